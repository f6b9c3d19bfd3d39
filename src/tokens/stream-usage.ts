/**
 * Usage of streamed replies: read the provider's own numbers from the SSE events (asking for
 * them and hiding the extra event is the dialect's `requestStreamUsage` / `isUsageOnlyEvent`,
 * applied by the upstream stage), and only when the provider reports nothing fall back to a
 * local, flagged count.
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
  /** Events are kept for the fallback count only until the provider's usage shows up. */
  #keepingEvents = true;

  constructor(dialect: Dialect, model = '') {
    this.#dialect = DIALECTS[dialect];
    this.#model = model;
  }

  /** One event of the stream (from the stream observer, which parses the stream once). */
  onEvent(event: ParsedEvent): void {
    const patch = this.#dialect.streamUsage(event);
    if (patch) {
      this.#raw = patch.merge ? { ...this.#raw, ...patch.raw } : patch.raw;
      // The provider reports usage: the local fallback count will not be needed. Letting the
      // events go matters: each holds a slice of its chunk's decoded text, and a meter kept
      // after the stream (ctx.usageSoFar) would keep every chunk's text alive with it.
      this.#pending = [];
      this.#keepingEvents = false;
    }
    if (!this.#keepingEvents || this.#pendingChars > MAX_FALLBACK_CHARS) return;
    this.#pending.push(event);
    this.#pendingChars += event.data.length;
  }

  /** Raw chunks, for use without a stream observer (tests, library use). */
  feed(chunk: Uint8Array): void {
    this.#parser ??= new SseParser();
    for (const event of this.#parser.feed(chunk)) this.onEvent(LazyEvent.from(event));
  }

  /** Flush a last event that lacked its blank line. */
  end(): void {
    if (!this.#parser) return;
    for (const event of this.#parser.end()) this.onEvent(LazyEvent.from(event));
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
