import { isAscii } from 'node:buffer';
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

/** Text to put into a stream just before its final event, or at its end when it has none. */
export interface FinalText {
  isFinal: (event: ParsedEvent) => boolean;
  text: () => string;
}

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
  finalText: FinalText | undefined;
  #finalWritten = false;
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
        if (!this.events && !this.#rewriting) {
          yield chunk;
          continue;
        }
        const out = this.#parse(chunk);
        if (out) yield out;
      }
      const tail = this.#end();
      if (tail) yield tail;
      const final = this.#unwrittenFinalText();
      if (final) yield encoder.encode(final);
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
    const edit = this.#observe(blocks);
    if (!this.#rewriting) return chunk;
    const tiles = wasAtBoundary && this.#parser.atBoundary;
    if (!edit.dropped && !edit.final && tiles) return chunk;
    // The blocks' texts tile an ASCII chunk char for byte: cut its bytes instead of re-encoding text.
    if (tiles && isAscii(chunk)) return this.#keptBytes(chunk, blocks, edit);
    return this.#kept(blocks, edit);
  }

  /** `#kept` for a chunk whose blocks' texts are its bytes one for one: the kept runs as views. */
  #keptBytes(chunk: Uint8Array, blocks: SseBlock[], edit: BlockEdit): Uint8Array | undefined {
    const pieces: Uint8Array[] = [];
    let offset = 0;
    let runStart = 0;
    const endRun = () => {
      if (offset > runStart) pieces.push(chunk.subarray(runStart, offset));
    };
    for (const block of blocks) {
      if (block === edit.final) {
        endRun();
        const text = this.#unwrittenFinalText();
        if (text) pieces.push(encoder.encode(text));
        runStart = offset;
      }
      if (edit.dropped?.has(block)) {
        endRun();
        runStart = offset + block.text.length;
      }
      offset += block.text.length;
    }
    endRun();
    if (pieces.length <= 1) return pieces[0];
    return Buffer.concat(pieces);
  }

  #end(): Uint8Array | undefined {
    if (!this.#parser) return undefined;
    const blocks = this.#parser.endBlocks();
    const edit = this.#observe(blocks);
    return this.#rewriting ? this.#kept(blocks, edit) : undefined;
  }

  /** Bytes may differ from the source's: whole events are held until complete. */
  get #rewriting(): boolean {
    return this.filters.length > 0 || this.finalText !== undefined;
  }

  /** Emit the blocks' events; returns the ones a filter drops and the final one, if among them. */
  #observe(blocks: SseBlock[]): BlockEdit {
    const edit: BlockEdit = {};
    for (const block of blocks) {
      if (!block.event) continue;
      const event = LazyEvent.from(block.event);
      this.events?.emit(event);
      if (this.finalText && !this.#finalWritten && !edit.final && this.finalText.isFinal(event)) {
        edit.final = block;
      }
      if (!this.#dropped(event)) continue;
      edit.dropped ??= new Set();
      edit.dropped.add(block);
    }
    return edit;
  }

  /** A loop rather than `filters.some(...)`: no closure per event. */
  #dropped(event: LazyEvent): boolean {
    for (const drop of this.filters) if (drop(event)) return true;
    return false;
  }

  #kept(blocks: SseBlock[], edit: BlockEdit): Uint8Array | undefined {
    let text = '';
    for (const block of blocks) {
      // Written when the final event is next: every event before it has been observed.
      if (block === edit.final) text += this.#unwrittenFinalText() ?? '';
      if (!edit.dropped?.has(block)) text += block.text;
    }
    return text ? encoder.encode(text) : undefined;
  }

  #unwrittenFinalText(): string | undefined {
    if (!this.finalText || this.#finalWritten) return undefined;
    this.#finalWritten = true;
    return this.finalText.text();
  }
}

interface BlockEdit {
  dropped?: Set<SseBlock>;
  final?: SseBlock;
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

/**
 * Put `final.text()` into the stream just before the first event `final.isFinal` picks (so every
 * event before it has been observed when the text is made), or after the last byte when no
 * event is picked. One per stream.
 */
export function insertFinalText(reply: StreamReply, final: FinalText): StreamReply {
  const chunks = observed(reply);
  chunks.finalText = final;
  return { ...reply, chunks };
}
