import { ResponsesStreamAggregator } from '../dialect/responses/events.js';
import type { Dialect } from '../pipeline/types.js';
import { SseParser } from '../upstream/sse.js';
import { AnthropicStreamAggregator } from './anthropic-stream.js';
import { type Aggregate, OpenAIStreamAggregator } from './openai-stream.js';

/**
 * Watches the raw SSE bytes of a streamed miss and rebuilds the response they amount to.
 * It never throws into the stream it watches: a problem only marks the capture unusable.
 * Past `maxBytes` of SSE it stops parsing (the entry would be too large to keep anyway).
 */
export class StreamCapture {
  readonly #parser = new SseParser();
  readonly #aggregator: OpenAIStreamAggregator | AnthropicStreamAggregator | ResponsesStreamAggregator;
  readonly #maxBytes: number;
  #bytes = 0;
  #failure: string | undefined;

  constructor(dialect: Dialect, maxBytes: number) {
    this.#aggregator =
      dialect === 'anthropic'
        ? new AnthropicStreamAggregator()
        : dialect === 'responses'
          ? new ResponsesStreamAggregator()
          : new OpenAIStreamAggregator();
    this.#maxBytes = maxBytes;
  }

  feed(chunk: Uint8Array): void {
    if (this.#failure) return;
    this.#bytes += chunk.byteLength;
    if (this.#bytes > this.#maxBytes) {
      this.#failure = 'stream larger than the cache limit';
      return;
    }
    try {
      for (const event of this.#parser.feed(chunk)) this.#aggregator.push(event);
    } catch (error) {
      this.#failure = `capture failed: ${(error as Error).message}`;
    }
  }

  finish(): Aggregate<Record<string, unknown>> {
    if (this.#failure) return { ok: false, reason: this.#failure };
    try {
      for (const event of this.#parser.end()) this.#aggregator.push(event);
    } catch (error) {
      return { ok: false, reason: `capture failed: ${(error as Error).message}` };
    }
    return this.#aggregator.finish();
  }
}
