/**
 * What a provider tells us about its limits: `Retry-After` on a 429, and the remaining-quota
 * headers OpenAI (`x-ratelimit-remaining-requests`, reset as `6m0s`) and Anthropic
 * (`anthropic-ratelimit-requests-remaining`, reset as an RFC 3339 time) send on every reply.
 * Header names are expected in lower case (as undici and node:http deliver them).
 */

export interface ProviderRemaining {
  requests?: number;
  tokens?: number;
  /** Milliseconds until the request quota refills. */
  resetRequestsMs?: number;
  /** Milliseconds until the token quota refills. */
  resetTokensMs?: number;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Retry-After in ms: `retry-after-ms` (OpenAI), then `retry-after` as seconds or an HTTP date. */
export function retryAfterMsFrom(headers: Headers, now = Date.now()): number | undefined {
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return n;
  }
  return parseRetryAfter(first(headers['retry-after']), now);
}

/** RFC 9110 Retry-After: delay-seconds or an HTTP-date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Remaining quota from OpenAI- or Anthropic-style headers; undefined when none are present. */
export function providerRemainingFrom(headers: Headers, now = Date.now()): ProviderRemaining | undefined {
  const oaRequests = first(headers['x-ratelimit-remaining-requests']);
  const oaTokens = first(headers['x-ratelimit-remaining-tokens']);
  if (oaRequests !== undefined || oaTokens !== undefined) {
    return {
      requests: toCount(oaRequests),
      tokens: toCount(oaTokens),
      resetRequestsMs: parseDuration(first(headers['x-ratelimit-reset-requests'])),
      resetTokensMs: parseDuration(first(headers['x-ratelimit-reset-tokens'])),
    };
  }
  const anRequests = first(headers['anthropic-ratelimit-requests-remaining']);
  const anTokens = first(headers['anthropic-ratelimit-tokens-remaining']);
  if (anRequests !== undefined || anTokens !== undefined) {
    return {
      requests: toCount(anRequests),
      tokens: toCount(anTokens),
      resetRequestsMs: untilTime(first(headers['anthropic-ratelimit-requests-reset']), now),
      resetTokensMs: untilTime(first(headers['anthropic-ratelimit-tokens-reset']), now),
    };
  }
  return undefined;
}

function toCount(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function untilTime(v: string | undefined, now: number): number | undefined {
  if (v === undefined) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Go-style durations as OpenAI sends them: `20ms`, `1s`, `6m0s`, `1h2m3.5s`. */
export function parseDuration(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  let total = 0;
  let consumed = 0;
  for (const match of v.matchAll(DURATION_PART)) {
    total += Number(match[1]) * UNIT_MS[match[2]];
    consumed += match[0].length;
  }
  return consumed === v.length && consumed > 0 ? total : undefined;
}

/** The inverse, for our own x-ratelimit-reset-* headers: `850ms`, `12s`, `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const totalSeconds = Math.ceil(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  const minutes = Math.floor(totalSeconds / 60);
  const hours = Math.floor(minutes / 60);
  const rest = `${minutes % 60}m${totalSeconds % 60}s`;
  return hours > 0 ? `${hours}h${rest}` : rest;
}
