import type { Reply, StreamReply } from './types.js';

export interface ReplyOutcome {
  /** The reply reached the client completely (a stream ran to its end). */
  completed: boolean;
  error?: unknown;
}

type ChunkObserver = (chunk: Uint8Array) => void;
type DoneObserver = (outcome: ReplyOutcome) => void;

/**
 * A stream with its observers. Every stage that watches a stream adds a callback to the one
 * instance instead of wrapping it in another async generator, so a chunk costs one promise on
 * its way to the client however many stages watch it. Observers run in the order they were
 * added: the deepest stage first, as nested wrappers would.
 */
class ObservedChunks implements AsyncIterable<Uint8Array> {
  readonly onChunk: ChunkObserver[] = [];
  readonly onDone: DoneObserver[] = [];
  readonly #source: AsyncIterable<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    let outcome: ReplyOutcome = { completed: false };
    try {
      for await (const chunk of this.#source) {
        for (const observe of this.onChunk) observe(chunk);
        yield chunk;
      }
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
