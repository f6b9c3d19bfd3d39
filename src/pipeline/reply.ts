import type { Reply, StreamReply } from './types.js';

export interface ReplyOutcome {
  /** The reply reached the client completely (a stream ran to its end). */
  completed: boolean;
  error?: unknown;
}

/**
 * Run `done` once the reply has been delivered: at once for a JSON reply, after the last
 * chunk (or an error / client abort) for a stream. Stages that act after the response
 * (recording, cache writes, budget settlement) use this instead of reaching into streams.
 */
export function afterReply(reply: Reply, done: (outcome: ReplyOutcome) => void): Reply {
  if (reply.kind === 'json') {
    done({ completed: true });
    return reply;
  }
  return { ...reply, chunks: watchChunks(reply, done) } satisfies StreamReply;
}

async function* watchChunks(reply: StreamReply, done: (outcome: ReplyOutcome) => void) {
  let outcome: ReplyOutcome = { completed: false };
  try {
    yield* reply.chunks;
    outcome = { completed: true };
  } catch (error) {
    outcome = { completed: false, error };
    throw error;
  } finally {
    done(outcome);
  }
}

/** Observe each chunk of a stream as it passes (usage extraction, cache capture). */
export function tapChunks(reply: StreamReply, onChunk: (chunk: Uint8Array) => void): StreamReply {
  const source = reply.chunks;
  async function* tapped() {
    for await (const chunk of source) {
      onChunk(chunk);
      yield chunk;
    }
  }
  return { ...reply, chunks: tapped() };
}
