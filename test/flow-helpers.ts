import { createContext } from '../src/pipeline/context.js';
import type { JsonReply, RequestContext, StreamReply } from '../src/pipeline/types.js';

/** A chat request context as the server would build it. */
export function chatContext(
  options: {
    user?: string;
    keyId?: string;
    tier?: string;
    model?: string;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    timeoutMs?: number;
    body?: Record<string, unknown>;
  } = {},
): RequestContext {
  const ctx = createContext({
    dialect: 'openai',
    route: 'chat',
    headers: options.headers ?? {},
    body: options.body ?? { model: options.model ?? 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
    signal: options.signal ?? new AbortController().signal,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  ctx.caller = { user: options.user ?? 'u1', keyId: options.keyId, tier: options.tier };
  return ctx;
}

export function jsonReply(status = 200, headers: Record<string, string> = {}): JsonReply {
  return { kind: 'json', status, headers, body: new TextEncoder().encode('{}') };
}

/** A stream reply whose chunks are released one by one by the test. */
export function controlledStream(): { reply: StreamReply; push(text: string): void; end(): void } {
  const queue: Array<IteratorResult<Uint8Array>> = [];
  let wake: (() => void) | undefined;
  const chunks: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      async next() {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        return queue.shift()!;
      },
    }),
  };
  const put = (item: IteratorResult<Uint8Array>) => {
    queue.push(item);
    wake?.();
  };
  return {
    reply: { kind: 'stream', status: 200, headers: {}, chunks },
    push: (text) => put({ done: false, value: new TextEncoder().encode(text) }),
    end: () => put({ done: true, value: undefined }),
  };
}

export async function drain(reply: StreamReply): Promise<string> {
  let text = '';
  for await (const chunk of reply.chunks) text += new TextDecoder().decode(chunk);
  return text;
}

/** Let promise callbacks run (setImmediate is never faked in these tests). */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
