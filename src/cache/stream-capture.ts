import { type Aggregate, DIALECTS, type ParsedEvent, type StreamAggregator } from '../dialect/index.js';
import { LazyEvent, SseParser } from '../dialect/sse.js';
import type { Dialect } from '../pipeline/types.js';

/**
 * Rebuilds the response a streamed miss amounts to from its events (delivered by the stream
 * observer, so the stream is not parsed again). It never throws into the stream it watches: a
 * problem only marks the capture unusable. Past `maxBytes` of event data it stops (the entry
 * would be too large to keep anyway).
 */
export class StreamCapture {
  readonly #aggregator: StreamAggregator;
  readonly #maxBytes: number;
  #parser: SseParser | undefined;
  #bytes = 0;
  #failure: string | undefined;

  constructor(dialect: Dialect, maxBytes: number) {
    this.#aggregator = DIALECTS[dialect].createAggregator();
    this.#maxBytes = maxBytes;
  }

  onEvent(event: ParsedEvent): void {
    if (this.#failure) return;
    this.#bytes += event.data.length;
    if (this.#bytes > this.#maxBytes) {
      this.#failure = 'stream larger than the cache limit';
      return;
    }
    try {
      this.#aggregator.push(event);
    } catch (error) {
      this.#failure = `capture failed: ${(error as Error).message}`;
    }
  }

  /** Raw SSE bytes, for use without a stream observer (library use, tests). */
  feed(chunk: Uint8Array): void {
    this.#parser ??= new SseParser();
    for (const event of this.#parser.feed(chunk)) this.onEvent(LazyEvent.from(event));
  }

  finish(): Aggregate<Record<string, unknown>> {
    if (this.#failure) return { ok: false, reason: this.#failure };
    if (this.#parser) for (const event of this.#parser.end()) this.onEvent(LazyEvent.from(event));
    if (this.#failure) return { ok: false, reason: this.#failure };
    return this.#aggregator.finish();
  }
}
