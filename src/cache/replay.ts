import { DIALECTS } from '../dialect/index.js';
import type { Dialect } from '../pipeline/types.js';

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
  const events = DIALECTS[dialect].replay(response, { includeUsage });
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
