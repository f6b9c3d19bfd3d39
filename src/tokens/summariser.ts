/**
 * The compression summariser wired through the gateway itself: the summary request runs the
 * same pipeline as any call (budget, caches, queue, upstream, record) as the same caller, so
 * its cost is reserved against and recorded to that caller (ledger rows with
 * `purpose: 'summary'`).
 */
import { SluiceError } from '../errors.js';
import { createContext } from '../pipeline/context.js';
import type { Reply, RequestContext } from '../pipeline/types.js';
import type { Summariser } from './compress.js';

export interface PipelineSummariserOptions {
  /** Runs a context through the pipeline after auth (late-bound: the pipeline contains the compression stage). */
  run: (ctx: RequestContext) => Promise<Reply>;
  maxTokens: number;
  timeoutMs?: number;
}

export function pipelineSummariser(options: PipelineSummariserOptions): Summariser {
  const limitMs = options.timeoutMs ?? 60_000;
  return async (messages, model, caller, parent) => {
    const body: Record<string, unknown> = { model, messages, max_tokens: options.maxTokens, temperature: 0 };
    // The summary belongs to the request it shortens: it ends when that request is abandoned
    // and never outlives its deadline.
    const timeoutMs = parent ? Math.max(1, Math.min(limitMs, parent.deadline - Date.now())) : limitMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const ctx = createContext({
      dialect: 'openai',
      route: 'chat',
      headers: {},
      body,
      signal: parent ? AbortSignal.any([parent.signal, timeout]) : timeout,
      timeoutMs,
    });
    ctx.caller = { ...caller };
    ctx.purpose = 'summary';
    if (parent) ctx.parent = parent;
    if (parent?.virtualKey) ctx.virtualKey = parent.virtualKey;
    const reply = await options.run(ctx);
    if (reply.kind !== 'json' || reply.status >= 400) {
      throw new SluiceError('upstream_error', `summariser call failed with status ${reply.status}`);
    }
    const parsed = (reply.parsed ?? JSON.parse(Buffer.from(reply.body).toString('utf8'))) as {
      choices?: Array<{ message?: { content?: unknown } }>;
    };
    const text = parsed.choices?.[0]?.message?.content;
    if (typeof text !== 'string') throw new SluiceError('upstream_error', 'summariser reply has no text');
    return { text, usage: ctx.usage };
  };
}
