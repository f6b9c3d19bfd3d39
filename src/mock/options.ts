import type { IncomingHttpHeaders } from 'node:http';
import type { FaultRates } from './faults.js';

export interface MockUpstreamOptions {
  /** 0 = ephemeral (default 0). */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Time to first byte; for JSON replies, before the whole response (default 0). */
  latencyMs?: number;
  /** Delay per streamed token; JSON replies wait it per token too (default 0). */
  tokenDelayMs?: number;
  /** Global fault injection; rates are fractions 0..1 whose sum is at most 1. */
  faults?: {
    rate429?: number;
    rate500?: number;
    rateSlow?: number;
    rateDrop?: number;
    /** `retry-after` on 429s (default 1). */
    retryAfterSeconds?: number;
    /** Extra latency of a slow fault (default 2000). */
    slowMs?: number;
  };
  /** When set, requests must carry it (`Authorization: Bearer` or `x-api-key`), else 401. */
  apiKey?: string;
  /** Seed of the fault draws (default 1). */
  seed?: number;
  /** Smallest Anthropic prompt prefix that caches (default 1024, as upstream for Sonnet/Opus). */
  promptCacheMinTokens?: number;
  /** How many requests `received` keeps (default 200; 0 keeps none, for benchmarks). */
  receivedLimit?: number;
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw text when it was not JSON; undefined for GET. */
  body: unknown;
  /** The body exactly as it arrived (UTF-8 text); undefined for GET. */
  text?: string;
}

export interface MockCounts {
  /** Requests answered successfully (in full). */
  total: number;
  /** Requests that reached a route, whatever happened to them (faults, 4xx, aborts). */
  attempts: number;
  byPath: Record<string, number>;
  byModel: Record<string, number>;
}

export interface MockUpstream {
  /** e.g. http://127.0.0.1:PORT (OpenAI clients use url + '/v1'). */
  url: string;
  port: number;
  /** Requests seen, newest last; keeps the last `receivedLimit` (200). */
  received: ReceivedRequest[];
  counts(): MockCounts;
  /** Forget received requests, counts, fail-times counters and the prompt cache; restart the fault PRNG. */
  reset(): void;
  /**
   * Change the global fault rates from now on, e.g. `{ rate429: 1 }` then `{ rate429: 0 }` for
   * an upstream that answers 429 for a period. Throws on invalid rates, as the options do.
   */
  setFaults(rates: Partial<FaultRates>): void;
  close(): Promise<void>;
}

export interface ResolvedOptions {
  port: number;
  host: string;
  latencyMs: number;
  tokenDelayMs: number;
  faults: FaultRates;
  apiKey: string | undefined;
  seed: number;
  promptCacheMinTokens: number;
  receivedLimit: number;
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v >= 0)) throw new TypeError(`${name} must be a number >= 0, got ${value}`);
  return v;
}

export function resolveOptions(opts: MockUpstreamOptions): ResolvedOptions {
  const f = opts.faults ?? {};
  const port = nonNegative('port', opts.port, 0);
  if (!Number.isInteger(port) || port > 65535)
    throw new TypeError(`port must be an integer 0..65535, got ${port}`);
  return {
    port,
    host: opts.host ?? '127.0.0.1',
    latencyMs: nonNegative('latencyMs', opts.latencyMs, 0),
    tokenDelayMs: nonNegative('tokenDelayMs', opts.tokenDelayMs, 0),
    faults: {
      rate429: nonNegative('faults.rate429', f.rate429, 0),
      rate500: nonNegative('faults.rate500', f.rate500, 0),
      rateSlow: nonNegative('faults.rateSlow', f.rateSlow, 0),
      rateDrop: nonNegative('faults.rateDrop', f.rateDrop, 0),
      retryAfterSeconds: nonNegative('faults.retryAfterSeconds', f.retryAfterSeconds, 1),
      slowMs: nonNegative('faults.slowMs', f.slowMs, 2000),
    },
    apiKey: opts.apiKey,
    seed: opts.seed ?? 1,
    promptCacheMinTokens: nonNegative('promptCacheMinTokens', opts.promptCacheMinTokens, 1024),
    receivedLimit: nonNegative('receivedLimit', opts.receivedLimit, 200),
  };
}
