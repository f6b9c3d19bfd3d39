/** Shared fixtures for the token-economy tests (budgets, ledger, compression). */
import { createContext } from '../src/pipeline/context.js';
import type {
  Caller,
  Dialect,
  JsonReply,
  Reply,
  RequestContext,
  Stage,
  StreamReply,
  Usage,
} from '../src/pipeline/types.js';

export interface CtxOptions {
  dialect?: Dialect;
  caller?: Caller;
  model?: string;
  messages?: unknown[];
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  stream?: boolean;
  maxTokens?: number;
}

/** A chat context as the server would build it, after auth. */
export function chatCtx(o: CtxOptions = {}): RequestContext {
  const dialect = o.dialect ?? 'openai';
  const body: Record<string, unknown> = o.body ?? {
    model: o.model ?? 'gpt-4o-mini',
    messages: o.messages ?? [{ role: 'user', content: 'Say hello.' }],
    ...(o.maxTokens !== undefined ? { max_tokens: o.maxTokens } : {}),
    ...(o.stream ? { stream: true } : {}),
  };
  const ctx = createContext({
    dialect,
    route: dialect === 'anthropic' ? 'messages' : 'chat',
    headers: o.headers ?? {},
    body,
    signal: o.signal ?? new AbortController().signal,
    timeoutMs: 60_000,
  });
  ctx.caller = o.caller ?? { user: 'alice' };
  return ctx;
}

const enc = new TextEncoder();

export function json(body: unknown, status = 200): JsonReply {
  return {
    kind: 'json',
    status,
    headers: { 'content-type': 'application/json' },
    body: enc.encode(JSON.stringify(body)),
    parsed: body,
  };
}

/**
 * A terminal stage standing in for the upstream stage: answers JSON, sets `ctx.usage` as the
 * real one does, names the model in `x-sluice-model`.
 */
export function jsonUpstream(
  usage: Usage | ((ctx: RequestContext) => Usage | undefined) | undefined,
  options: { gate?: Promise<void>; status?: number; text?: string } = {},
): Stage & { calls: number } {
  const stage = Object.assign(
    async (ctx: RequestContext): Promise<Reply> => {
      stage.calls++;
      if (options.gate) await options.gate;
      ctx.upstream = 'fake';
      ctx.responseHeaders['x-sluice-model'] = ctx.model;
      const status = options.status ?? 200;
      if (status >= 400) return json({ error: { message: 'boom', type: 'api_error' } }, status);
      ctx.usage = typeof usage === 'function' ? usage(ctx) : usage;
      return json({
        choices: [{ index: 0, message: { role: 'assistant', content: options.text ?? 'Hello!' } }],
      });
    },
    { calls: 0 },
  );
  return stage;
}

/** A terminal stage answering a stream whose chunks the test releases; usage is set at the end, as upstream does. */
export function streamUpstream(usage: Usage | undefined): {
  stage: Stage;
  push(text: string): void;
  end(): void;
  started: Promise<void>;
} {
  const queue: Array<IteratorResult<Uint8Array>> = [];
  let wake: (() => void) | undefined;
  let markStarted: () => void = () => {};
  const started = new Promise<void>((r) => (markStarted = r));
  const put = (item: IteratorResult<Uint8Array>) => {
    queue.push(item);
    wake?.();
  };
  const stage: Stage = async (ctx) => {
    ctx.upstream = 'fake';
    ctx.responseHeaders['x-sluice-model'] = ctx.model;
    async function* chunks() {
      markStarted();
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const item = queue.shift()!;
        if (item.done) break;
        yield item.value;
      }
      ctx.usage = usage;
    }
    return { kind: 'stream', status: 200, headers: {}, chunks: chunks() } satisfies StreamReply;
  };
  return {
    stage,
    started,
    push: (text) => put({ done: false, value: enc.encode(text) }),
    end: () => put({ done: true, value: undefined }),
  };
}

export async function drain(reply: StreamReply): Promise<string> {
  let text = '';
  for await (const chunk of reply.chunks) text += new TextDecoder().decode(chunk);
  return text;
}

export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
