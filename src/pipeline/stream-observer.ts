/**
 * The one stream observer of a request. A streamed upstream reply is SSE-parsed once, event by
 * event (src/pipeline/reply.ts does the parsing as the chunks pass), and every stage that
 * needs to read it subscribes here instead of parsing the bytes again:
 *  - the usage meter (src/tokens/stream-usage.ts, subscribed by the upstream stage),
 *  - exact-cache capture (src/cache/exact-stage.ts, which subscribes before calling on, so it
 *    sees the upstream's stream even when single-flight shares it with followers),
 *  - usage-chunk stripping (an event filter, see `dropEvents` in reply.ts),
 *  - and metrics (next): subscribe with `ctx.replyEvents.subscribe(listener)` from any stage
 *    before it calls `next()`; the listener gets every event of the upstream's stream, each
 *    with its JSON parsed at most once (`event.json()`), in order, before the event's bytes
 *    reach the client.
 * A reply that did not come from an upstream stream (a cache hit's replay, JSON) has no events.
 */
import type { ParsedEvent } from '../dialect/types.js';

export type EventListener = (event: ParsedEvent) => void;

export class ReplyEvents {
  #listeners: EventListener[] = [];

  subscribe(listener: EventListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  get listening(): boolean {
    return this.#listeners.length > 0;
  }

  /** Deliver one event to every listener; a throwing listener is a stage's bug, reported and skipped. */
  emit(event: ParsedEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        process.emitWarning(error instanceof Error ? error : String(error), 'SluiceObserverError');
      }
    }
  }
}
