import type { IncomingHttpHeaders } from 'node:http';

/** Statuses worth another attempt: rate limits, overload and transient server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 529 || (status >= 500 && status !== 501);
}

type HeaderBag = IncomingHttpHeaders | Record<string, string | string[] | undefined>;

/**
 * The wait the upstream asked for, in ms: `retry-after-ms` (OpenAI), else `retry-after`
 * as seconds or an HTTP date (RFC 9110 §10.2.3). Undefined when absent or unreadable.
 */
export function retryAfterMs(headers: HeaderBag, now = Date.now()): number | undefined {
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  const ra = first(headers['retry-after']);
  if (ra === undefined) return undefined;
  const seconds = Number(ra);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with full jitter (AWS architecture blog), capped at `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(random() * ceiling);
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
