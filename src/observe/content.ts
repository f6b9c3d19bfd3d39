/**
 * Message content for logs, traces and Langfuse: only where configured, after the configured
 * redaction patterns, and cut to a bounded size. Provider keys are masked by the logger and
 * scrubbed from replies elsewhere; this masks what the caller's own text may hold.
 */
import { DIALECTS } from '../dialect/index.js';
import type { Dialect, RequestContext } from '../pipeline/types.js';

/** Longest content attached to one log line or span attribute. */
export const MAX_CONTENT_CHARS = 32_000;
const REDACTED = '[redacted]';

export type Redactor = (text: string) => string;

/** Patterns are checked when the config is loaded (config.ts); here they are compiled once. */
export function createRedactor(patterns: readonly string[]): Redactor {
  if (patterns.length === 0) return cut;
  const compiled = patterns.map((p) => new RegExp(p, 'gi'));
  return (text) => {
    let out = text;
    for (const re of compiled) out = out.replace(re, REDACTED);
    return cut(out);
  };
}

function cut(text: string): string {
  return text.length <= MAX_CONTENT_CHARS ? text : `${text.slice(0, MAX_CONTENT_CHARS)}…[truncated]`;
}

/** What the caller sent: messages (and the system prompt on the Anthropic route), or embedding input. */
export function requestContent(ctx: RequestContext): unknown {
  const body = ctx.body;
  if (ctx.route === 'embeddings') return body.input;
  if (ctx.route === 'messages' && body.system !== undefined)
    return { system: body.system, messages: body.messages };
  return body.messages;
}

/** The answer's message(s) in a complete response of the route's dialect. */
export function responseContent(dialect: Dialect, response: unknown): unknown {
  return DIALECTS[dialect].replyContent(response);
}

/** Why each choice stopped, from a complete response (`finish_reason`, `stop_reason`, a Response's status). */
export function finishReasons(dialect: Dialect, response: unknown): string[] | undefined {
  return DIALECTS[dialect].finishReasons(response);
}

/** JSON text of a value, redacted and cut. */
export function contentText(value: unknown, redact: Redactor): string | undefined {
  if (value === undefined) return undefined;
  return redact(typeof value === 'string' ? value : JSON.stringify(value));
}
