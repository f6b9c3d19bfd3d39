/**
 * Usage of streamed replies: read the provider's own numbers from the SSE events, make OpenAI
 * send them (`stream_options.include_usage`), hide that extra chunk from clients that did not
 * ask for it, and only when the provider reports nothing fall back to a local, flagged count.
 */
import { DIALECTS, type DialectSpec, type ParsedEvent, type Usage } from '../dialect/index.js';
import { LazyEvent, SseParser } from '../dialect/sse.js';
import type { Dialect } from '../pipeline/types.js';
import { countText } from './count.js';

/** Raw event data kept for the local fallback count, at most this many characters. */
const MAX_FALLBACK_CHARS = 4_000_000;

/**
 * Reads a stream's usage event by event. `usage()` gives the provider's usage when the
 * stream carried one; otherwise an estimate of the output tokens (counted locally from the
 * streamed text) with `estimated: true` and `inputTokens: 0` — the input side of such an
 * estimate must come from the prompt count (see `cost/usage-resolve.ts`).
 */
export class StreamUsageMeter {
  readonly #dialect: DialectSpec;
  readonly #model: string;
  #parser: SseParser | undefined;
  /** Usage fields seen so far (merged or replaced as the dialect says). */
  #raw: Record<string, unknown> | undefined;
  #pending: ParsedEvent[] = [];
  #pendingChars = 0;

  constructor(dialect: Dialect, model = '') {
    this.#dialect = DIALECTS[dialect];
    this.#model = model;
  }

  /** One event of the stream (from the stream observer, which parses the stream once). */
  onEvent(event: ParsedEvent): void {
    const patch = this.#dialect.streamUsage(event);
    if (patch) this.#raw = patch.merge ? { ...this.#raw, ...patch.raw } : patch.raw;
    if (this.#pendingChars > MAX_FALLBACK_CHARS) return;
    this.#pending.push(event);
    this.#pendingChars += event.data.length;
  }

  /** Raw chunks, for use without a stream observer (tests, library use). */
  feed(chunk: Uint8Array): void {
    this.#parser ??= new SseParser();
    for (const event of this.#parser.feed(chunk)) this.onEvent(new LazyEvent(event));
  }

  /** Flush a last event that lacked its blank line. */
  end(): void {
    if (!this.#parser) return;
    for (const event of this.#parser.end()) this.onEvent(new LazyEvent(event));
  }

  /** The provider's usage, if the stream has carried one so far. */
  providerUsage(): Usage | undefined {
    return this.#raw ? this.#dialect.usage(this.#raw) : undefined;
  }

  usage(): Usage | undefined {
    this.end();
    const reported = this.providerUsage();
    if (reported) return reported;
    const text = this.outputText();
    if (!text) return undefined;
    return {
      inputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: countText(text, this.#model).tokens,
      estimated: true,
    };
  }

  /** Text the model produced (content, tool arguments, reasoning), parsed only when needed. */
  outputText(): string {
    let out = '';
    for (const event of this.#pending) out += this.#dialect.streamText(event);
    return out;
  }
}

export interface PreparedStream {
  body: Record<string, unknown>;
  /** Applied to the stream on its way to the client (after usage has been read from it). */
  transform?: (chunks: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;
}

/**
 * Make a stream carry usage (OpenAI: add `stream_options.include_usage` when the client did not
 * ask for it) and strip the extra usage event again on the way back. Anthropic streams always
 * carry usage; their body is left as it is.
 */
export function requestStreamUsage(dialect: Dialect, body: Record<string, unknown>): PreparedStream {
  const prepared = DIALECTS[dialect].requestStreamUsage(body);
  return prepared.stripUsage ? { body: prepared.body, transform: stripUsageChunks } : { body: prepared.body };
}

const LF2 = Buffer.from('\n\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const USAGE_OBJECT = /"usage"\s*:\s*\{/;
const EMPTY_CHOICES = [Buffer.from('"choices":[]'), Buffer.from('"choices": []')];

/**
 * Remove the usage-only chunk (`"choices": []` plus a `usage` object) that `include_usage`
 * adds to an OpenAI stream. Works on bytes: complete events pass through untouched unless they
 * may hold that chunk; an unfinished event is held until its blank line arrives (a client
 * cannot use half an event anyway), so the bytes that reach the client are the upstream's
 * bytes minus exactly that event.
 */
export async function* stripUsageChunks(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let pending: Buffer | undefined;
  for await (const chunk of source) {
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = pending ? Buffer.concat([pending, view]) : view;
    const end = lastEventEnd(buf);
    if (end === -1) {
      pending = Buffer.from(buf);
      continue;
    }
    pending = end < buf.length ? Buffer.from(buf.subarray(end)) : undefined;
    const complete = end === buf.length ? buf : buf.subarray(0, end);
    if (!EMPTY_CHOICES.some((p) => complete.includes(p))) {
      yield complete === view ? chunk : complete;
      continue;
    }
    const kept = dropUsageOnlyEvents(complete.toString('utf8'));
    if (kept) yield Buffer.from(kept, 'utf8');
  }
  if (pending && pending.length > 0) {
    const kept = dropUsageOnlyEvents(pending.toString('utf8'));
    if (kept) yield Buffer.from(kept, 'utf8');
  }
}

function lastEventEnd(buf: Buffer): number {
  const lf = buf.lastIndexOf(LF2);
  const crlf = buf.lastIndexOf(CRLF2);
  return Math.max(lf === -1 ? -1 : lf + 2, crlf === -1 ? -1 : crlf + 4);
}

/** Drop events whose data is a usage-only chunk, keeping every other byte as it was. */
function dropUsageOnlyEvents(text: string): string {
  const parts = text.split(/(\r?\n\r?\n)/);
  let out = '';
  for (let i = 0; i < parts.length; i += 2) {
    const block = parts[i];
    const sep = parts[i + 1] ?? '';
    if (isUsageOnlyBlock(block)) continue;
    out += block + sep;
  }
  return out;
}

function isUsageOnlyBlock(block: string): boolean {
  if (!USAGE_OBJECT.test(block)) return false;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
  }
  return DIALECTS.openai.isUsageOnlyEvent(new LazyEvent({ data: data.join('\n') }));
}
