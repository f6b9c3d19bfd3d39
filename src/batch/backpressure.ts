import { retryAfterMs } from '../upstream/retry.js';
import { errorFromBody } from './jsonl.js';
import type { Backpressure, BatchError } from './run.js';

/**
 * Which refusals mean "too busy, come back later" (the batch slows down and retries the
 * line) and which are final. 429 and 503 are backpressure — a full gateway queue, a rate
 * limit, an overloaded provider — unless the refusal says waiting cannot cure it: a spent
 * budget or provider quota, or `x-should-retry: false` (the header the official SDKs obey).
 */

const BUSY_STATUSES = new Set([429, 503]);
/** Error codes a retry cannot fix however long the batch waits. */
const FINAL_CODES = new Set(['budget_exceeded', 'insufficient_quota']);

export function backpressureOfReply(
  status: number,
  headers: Record<string, string>,
  body: unknown,
): Backpressure | undefined {
  if (!BUSY_STATUSES.has(status)) return undefined;
  if (headers['x-should-retry']?.trim().toLowerCase() === 'false') return undefined;
  const { code } = errorFromBody(status, body);
  if (typeof code === 'string' && FINAL_CODES.has(code)) return undefined;
  return { retryAfterMs: retryAfterMs(headers) };
}

/** The same rule for a call that threw instead of answering (no headers to read). */
export function backpressureOfError(error: BatchError): Backpressure | undefined {
  if (error.status === undefined || !BUSY_STATUSES.has(error.status)) return undefined;
  if (error.code !== undefined && FINAL_CODES.has(error.code)) return undefined;
  return {};
}
