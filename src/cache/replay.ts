import type { Dialect } from '../pipeline/types.js';
import { formatSse } from '../upstream/sse.js';
import { replayAnthropic } from './anthropic-stream.js';
import { replayOpenAI } from './openai-stream.js';
import { replayResponseEvents } from '../dialect/responses/events.js';

/** Bytes per write when replaying: many small events, few syscalls. */
const WRITE_BYTES = 8 * 1024;
const encoder = new TextEncoder();

/**
 * A stored response as SSE bytes in the route's dialect. The events carry naturally sized
 * deltas; they are grouped into writes of about 8 KiB (clients parse events, not writes).
 */
export function replaySse(
  dialect: Dialect,
  response: Record<string, unknown>,
  includeUsage: boolean,
): Uint8Array[] {
  const events =
    dialect === 'anthropic'
      ? replayAnthropic(response).map((e) => formatSse(e.data, e.event))
      : dialect === 'responses'
        ? replayResponseEvents(response).map((e) => formatSse(e.data, e.event))
        : replayOpenAI(response, { includeUsage }).map((data) => formatSse(data));
  const writes: Uint8Array[] = [];
  let pending = '';
  for (const event of events) {
    pending += event;
    if (pending.length >= WRITE_BYTES) {
      writes.push(encoder.encode(pending));
      pending = '';
    }
  }
  if (pending) writes.push(encoder.encode(pending));
  return writes;
}

export async function* fromArray(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* chunks;
}
