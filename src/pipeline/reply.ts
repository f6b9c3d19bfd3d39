import { LazyEvent, type SseBlock, SseParser } from '../dialect/sse.js';
import type { ParsedEvent } from '../dialect/types.js';
import type { ReplyEvents } from './stream-observer.js';
import type { Reply, StreamReply } from './types.js';

export interface ReplyOutcome {
  /** The reply reached the client completely (a stream ran to its end). */
  completed: boolean;
  error?: unknown;
}

type ChunkObserver = (chunk: Uint8Array) => void;
type DoneObserver = (outcome: ReplyOutcome) => void;
/** True to keep the event from the client (it has been observed all the same). */
type EventFilter = (event: ParsedEvent) => boolean;
const encoder = new TextEncoder();

/**
 * A stream with its observers. Every stage that watches a stream adds a callback to the one
 * instance instead of wrapping it in another async generator, so a chunk costs one promise on
 * its way to the client however many stages watch it. Observers run in the order they were
 * added: the deepest stage first, as nested wrappers would.
 */
class ObservedChunks implements AsyncIterable<Uint8Array> {
  readonly onChunk: ChunkObserver[] = [];
  readonly onDone: DoneObserver[] = [];
  /** Where parsed events go (the request's stream observer); set by `observeEvents`. */
  events: ReplyEvents | undefined;
  readonly filters: EventFilter[] = [];
  readonly #source: AsyncIterable<Uint8Array>;
  #parser: SseParser | undefined;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    let outcome: ReplyOutcome = { completed: false };
    try {
      for await (const chunk of this.#source) {
        for (const observe of this.onChunk) observe(chunk);
        if (!this.events && this.filters.length === 0) {
          yield chunk;
          continue;
        }
        const out = this.#parse(chunk);
        if (out) yield out;
      }
      const tail = this.#end();
      if (tail) yield tail;
      outcome = { completed: true };
    } catch (error) {
      outcome = { completed: false, error };
      throw error;
    } finally {
      // Every observer runs even if one throws (settlement must not be skipped). A throwing
      // observer is a bug in a stage: it is reported, and cannot replace the stream's outcome.
      for (const done of this.onDone) {
        try {
          done(outcome);
        } catch (error) {
          process.emitWarning(error instanceof Error ? error : String(error), 'SluiceObserverError');
        }
      }
    }
  }

  /**
   * Parse a chunk into events once, hand each to the observer, and return the bytes for the
   * client: the chunk itself unless a filter dropped an event or an event is split across
   * chunks while filtering (then the text of the complete, kept events).
   */
  #parse(chunk: Uint8Array): Uint8Array | undefined {
    this.#parser ??= new SseParser();
    const wasAtBoundary = this.#parser.atBoundary;
    const blocks = this.#parser.feedBlocks(chunk);
    const dropped = this.#observe(blocks);
    if (this.filters.length === 0) return chunk;
    if (!dropped && wasAtBoundary && this.#parser.atBoundary) return chunk;
    return this.#kept(blocks, dropped);
  }

  #end(): Uint8Array | undefined {
    if (!this.#parser) return undefined;
    const blocks = this.#parser.endBlocks();
    const dropped = this.#observe(blocks);
    return this.filters.length === 0 ? undefined : this.#kept(blocks, dropped);
  }

  /** Emit the blocks' events; returns the ones a filter drops. */
  #observe(blocks: SseBlock[]): Set<SseBlock> | undefined {
    let dropped: Set<SseBlock> | undefined;
    for (const block of blocks) {
      if (!block.event) continue;
      const event = new LazyEvent(block.event);
      this.events?.emit(event);
      if (!this.filters.some((drop) => drop(event))) continue;
      dropped ??= new Set();
      dropped.add(block);
    }
    return dropped;
  }

  #kept(blocks: SseBlock[], dropped: Set<SseBlock> | undefined): Uint8Array | undefined {
    let text = '';
    for (const block of blocks) if (!dropped?.has(block)) text += block.text;
    return text ? encoder.encode(text) : undefined;
  }
}

function observed(reply: StreamReply): ObservedChunks {
  return reply.chunks instanceof ObservedChunks ? reply.chunks : new ObservedChunks(reply.chunks);
}

/**
 * Run `done` once the reply has been delivered: at once for a JSON reply, after the last
 * chunk (or an error / client abort) for a stream. Stages that act after the response
 * (recording, cache writes, budget settlement) use this instead of reaching into streams.
 */
export function afterReply(reply: Reply, done: DoneObserver): Reply {
  if (reply.kind === 'json') {
    done({ completed: true });
    return reply;
  }
  const chunks = observed(reply);
  chunks.onDone.push(done);
  return { ...reply, chunks };
}

/** Observe each chunk of a stream as it passes (usage extraction, cache capture). */
export function tapChunks(reply: StreamReply, onChunk: ChunkObserver): StreamReply {
  const chunks = observed(reply);
  chunks.onChunk.push(onChunk);
  return { ...reply, chunks };
}

/**
 * Parse the stream's SSE once as it passes and deliver each event to the request's stream
 * observer (`ctx.replyEvents`, see stream-observer.ts). Called by the stage that produces the
 * upstream stream; other stages subscribe to the observer rather than the bytes.
 */
export function observeEvents(reply: StreamReply, events: ReplyEvents): StreamReply {
  const chunks = observed(reply);
  chunks.events = events;
  return { ...reply, chunks };
}

/**
 * Keep events `drop` says true for from the client (usage-chunk stripping). The other bytes
 * reach the client as they were; while an event is split across chunks, its bytes are held
 * until its blank line arrives (a client cannot use half an event anyway).
 */
export function dropEvents(reply: StreamReply, drop: EventFilter): StreamReply {
  const chunks = observed(reply);
  chunks.filters.push(drop);
  return { ...reply, chunks };
}
