import type { IncomingHttpHeaders } from 'node:http';
import { wholeNumberHeader } from '../pipeline/context.js';
import { isStatefulRequest } from '../dialect/responses/request.js';
import type { RouteName } from '../pipeline/types.js';
import type { CacheConfig } from './config.js';

/**
 * Why a request's answer is neither looked up nor stored; sent to the client as
 * `x-sluice-cache-reason` on a bypass (README: "Which requests are cached").
 */
export type BypassReason =
  | 'disabled'
  | 'embeddings-off'
  | 'legacy-completions'
  | 'n>1'
  | 'nondeterministic'
  | 'no-store'
  | 'stateful';

export type Cacheability = { ok: true } | { ok: false; reason: BypassReason };

/**
 * Whether an answer to this request may be stored and reused. By default only
 * (near-)deterministic requests: temperature at most `maxTemperature`, or a `seed`. A missing
 * temperature means the provider default (1.0), so it is not deterministic. Embeddings are
 * deterministic by nature. Legacy completions (`text_completion`) are passed through uncached:
 * the cache stores, aggregates and replays chat-shaped answers only. A stateful Responses request
 * (`previous_response_id`, `store: true`, …) is never cached.
 */
export function isCacheable(
  route: RouteName,
  body: Readonly<Record<string, unknown>>,
  config: CacheConfig,
): Cacheability {
  if (!config.enabled) return { ok: false, reason: 'disabled' };
  if (route === 'completions') return { ok: false, reason: 'legacy-completions' };
  // Its answer depends on (or creates) state at the provider: a stored copy could not stand in.
  if (route === 'responses' && isStatefulRequest(body)) return { ok: false, reason: 'stateful' };
  if (route === 'embeddings')
    return config.embeddings ? { ok: true } : { ok: false, reason: 'embeddings-off' };
  const n = body.n;
  if (typeof n === 'number' && n > 1 && !config.cacheNGreaterThanOne) return { ok: false, reason: 'n>1' };
  if (!config.deterministicOnly) return { ok: true };
  const t = body.temperature;
  if (typeof t === 'number' && t <= config.maxTemperature) return { ok: true };
  if (typeof body.seed === 'number') return { ok: true };
  // A missing temperature is the provider's default (1.0): not deterministic.
  return { ok: false, reason: 'nondeterministic' };
}

export interface CacheDirectives {
  /** `cache-control: no-cache`: skip the lookup, still store (refresh). */
  noCache: boolean;
  /** `cache-control: no-store`: neither read nor write. */
  noStore: boolean;
  /** `x-sluice-cache-ttl`, when given; 0 means do not store. */
  ttlSeconds?: number;
}

/** Read the request's cache controls; a malformed TTL is the client's error (400). */
export function cacheDirectives(headers: IncomingHttpHeaders): CacheDirectives {
  let noCache = false;
  let noStore = false;
  const control = headers['cache-control'];
  if (control) {
    for (const directive of String(control).toLowerCase().split(',')) {
      const name = directive.trim().split('=')[0];
      if (name === 'no-cache') noCache = true;
      else if (name === 'no-store') noStore = true;
    }
  }
  const ttlSeconds = wholeNumberHeader(headers, 'x-sluice-cache-ttl');
  return ttlSeconds === undefined ? { noCache, noStore } : { noCache, noStore, ttlSeconds };
}
