import { SluiceError } from '../errors.js';
import { compositeKey } from '../store/composite-key.js';
import type { CounterAdd, CounterStore } from '../store/types.js';
import type { RateLimitRule, RateLimitScope } from './config.js';
import { formatDuration } from './provider-headers.js';

/**
 * Requests-per-minute and tokens-per-minute limits per key, user, team or upstream, kept in a
 * CounterStore so several instances on Redis share them.
 *
 * Sliding window, the two-window approximation: usage = previous window x (share of it still
 * inside the last minute) + current window. That smooths the 2x burst a fixed window allows at
 * its boundary, and still costs one atomic `tryAdd` per request: the previous window is closed,
 * so its count is read once per window and remembered.
 *
 * Tokens are reserved as an estimate (prompt + max output) and settled with the real usage.
 */

export interface RateLimitSubject {
  key?: string;
  user?: string;
  team?: string;
  upstream?: string;
  tier?: string;
}

export interface RateLimitReservation {
  /** OpenAI-style `x-ratelimit-*` headers of the tightest applicable limits (empty when none). */
  readonly headers: Record<string, string>;
  /** Replace the token estimate with the real count (0 to refund: the call never happened). */
  settle(actualTokens: number): Promise<void>;
}

export interface RateLimiterOptions {
  rules: readonly RateLimitRule[];
  store: CounterStore;
  /** Counter key prefix (namespace on a shared Redis). */
  prefix?: string;
  windowMs?: number;
  now?: () => number;
}

type Kind = 'requests' | 'tokens';

interface Counter {
  rule: CompiledRule;
  /** The subject's id in the rule's scope (key id, user, team or upstream). */
  id: string;
  kind: Kind;
  limit: number;
  key: string;
  prevKey: string;
}

interface CompiledRule {
  name: string;
  scope: RateLimitScope;
  rpm?: number;
  tpm?: number;
  match?: string;
  tier?: string;
}

const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NOTHING_RESERVED: RateLimitReservation = { headers: NO_HEADERS, settle: async () => {} };

export class RateLimiter {
  readonly #rules: readonly CompiledRule[];
  readonly #store: CounterStore;
  readonly #prefix: string;
  readonly #windowMs: number;
  readonly #ttlSeconds: number;
  readonly #now: () => number;
  /** Counts of the window before `#prevWindow + 1`, by counter key (closed, so cacheable). */
  #prevCounts = new Map<string, number>();
  #prevWindow = -1;

  constructor(options: RateLimiterOptions) {
    const windowMs = options.windowMs ?? 60_000;
    if (!(windowMs > 0)) throw new TypeError('rate limit windowMs must be > 0');
    this.#rules = options.rules.map((rule) => ({
      ...rule,
      name: rule.name ?? defaultRuleName(rule),
    }));
    const names = new Set(this.#rules.map((r) => r.name));
    if (names.size !== this.#rules.length) throw new TypeError('rate limit rules need distinct names');
    this.#store = options.store;
    this.#prefix = options.prefix ?? 'sluice:rl:';
    this.#windowMs = windowMs;
    // The previous window must still be readable during the current one.
    this.#ttlSeconds = Math.ceil((2 * windowMs) / 1000) + 5;
    this.#now = options.now ?? Date.now;
  }

  /** Whether any rule could apply to a subject with these scopes (lets a stage be left out). */
  hasRulesFor(scopes: readonly RateLimitScope[]): boolean {
    return this.#rules.some((r) => scopes.includes(r.scope));
  }

  /**
   * Count one request and `estimatedTokens` against every rule that applies to `subject`, all
   * or nothing. Throws SluiceError `rate_limited` (429, Retry-After, x-ratelimit-*) when over.
   */
  async reserve(subject: RateLimitSubject, estimatedTokens: number): Promise<RateLimitReservation> {
    const now = this.#now();
    const window = Math.floor(now / this.#windowMs);
    const counters = this.#countersFor(subject, window);
    if (counters.length === 0) return NOTHING_RESERVED;

    const tokens = Math.max(0, Math.ceil(estimatedTokens));
    const prev = await this.#previousCounts(counters, window);
    const carried = 1 - (now - window * this.#windowMs) / this.#windowMs;
    const adds: CounterAdd[] = counters.map((c, i) => {
      const amount = c.kind === 'requests' ? 1 : tokens;
      return { key: c.key, amount, limit: c.limit - prev[i] * carried, ttlSeconds: this.#ttlSeconds };
    });
    for (let i = 0; i < counters.length; i++) {
      if (adds[i].amount > counters[i].limit) throw tooLarge(counters[i], adds[i].amount);
    }

    const result = await this.#store.tryAdd(adds);
    if (!result.ok) {
      const i = result.index;
      const c = counters[i];
      const frac = 1 - carried;
      const waitMs = msUntilFits(prev[i], result.current, adds[i].amount, c.limit, frac, this.#windowMs);
      const state = {
        limit: c.limit,
        remaining: Math.max(0, adds[i].limit - result.current),
        resetMs: waitMs,
      };
      throw limitedError(
        c,
        waitMs,
        headersFor(c.kind === 'requests' ? state : undefined, c.kind === 'tokens' ? state : undefined),
      );
    }

    const resetMs = (window + 1) * this.#windowMs - now;
    let tightRequests: { limit: number; remaining: number; resetMs: number } | undefined;
    let tightTokens: typeof tightRequests;
    for (let i = 0; i < counters.length; i++) {
      const remaining = Math.max(0, Math.floor(adds[i].limit - result.values[i]));
      const state = { limit: counters[i].limit, remaining, resetMs };
      if (counters[i].kind === 'requests') {
        if (tightRequests === undefined || remaining < tightRequests.remaining) tightRequests = state;
      } else if (tightTokens === undefined || remaining < tightTokens.remaining) tightTokens = state;
    }
    const tokenKeys = counters.filter((c) => c.kind === 'tokens').map((c) => c.key);
    return {
      headers: headersFor(tightRequests, tightTokens),
      settle: (actual) => this.#settle(tokenKeys, tokens, actual),
    };
  }

  async #settle(keys: readonly string[], reserved: number, actual: number): Promise<void> {
    const diff = Math.max(0, Math.ceil(actual)) - reserved;
    if (diff === 0 || keys.length === 0) return;
    await Promise.all(keys.map((key) => this.#store.add(key, diff, this.#ttlSeconds)));
  }

  #countersFor(subject: RateLimitSubject, window: number): Counter[] {
    const counters: Counter[] = [];
    for (const rule of this.#rules) {
      const id = subject[rule.scope];
      if (id === undefined) continue;
      if (rule.match !== undefined && rule.match !== id) continue;
      if (rule.tier !== undefined && rule.tier !== subject.tier) continue;
      const counterKey = (kind: 'r' | 't', w: number) =>
        this.#prefix + rateLimitCounterKey(rule.name, id, kind, w);
      if (rule.rpm !== undefined) {
        counters.push({
          rule,
          id,
          kind: 'requests',
          limit: rule.rpm,
          key: counterKey('r', window),
          prevKey: counterKey('r', window - 1),
        });
      }
      if (rule.tpm !== undefined) {
        counters.push({
          rule,
          id,
          kind: 'tokens',
          limit: rule.tpm,
          key: counterKey('t', window),
          prevKey: counterKey('t', window - 1),
        });
      }
    }
    return counters;
  }

  async #previousCounts(counters: readonly Counter[], window: number): Promise<number[]> {
    if (window !== this.#prevWindow) {
      this.#prevWindow = window;
      this.#prevCounts = new Map();
    }
    const cache = this.#prevCounts;
    const missing = counters.filter((c) => !cache.has(c.prevKey)).map((c) => c.prevKey);
    if (missing.length > 0) {
      const values = await this.#store.get(missing);
      for (let i = 0; i < missing.length; i++) cache.set(missing[i], values[i] ?? 0);
    }
    return counters.map((c) => cache.get(c.prevKey) ?? 0);
  }
}

/**
 * The counter of one rule, subject id, kind (`r` requests, `t` tokens) and window, below the
 * limiter's prefix. Rule names and ids are escaped: rule `a` with id `b:c` is not rule `a:b`
 * with id `c`.
 */
export function rateLimitCounterKey(ruleName: string, id: string, kind: 'r' | 't', window: number): string {
  return compositeKey(ruleName, id, kind, window);
}

/**
 * A rule's name when the config gives none. `match` and `tier` are marked so that a literal
 * `*` (a user called `*`) is not the same rule as "any".
 */
export function defaultRuleName(rule: RateLimitRule): string {
  const given = (value: string | undefined) => (value === undefined ? '*' : `=${value}`);
  return compositeKey(rule.scope, given(rule.match), given(rule.tier));
}

/**
 * How long until `amount` more fits, assuming nobody else adds: first as the previous window's
 * weight fades during the current one, else in the next window (where `curr` becomes the
 * previous window). `frac` is how far into the current window we are (0..1).
 */
export function msUntilFits(
  prev: number,
  curr: number,
  amount: number,
  limit: number,
  frac: number,
  windowMs: number,
): number {
  const room = limit - curr - amount;
  if (room >= prev * (1 - frac)) return 0;
  if (room >= 0 && prev > 0) {
    const at = 1 - room / prev;
    if (at < 1) return Math.ceil((at - frac) * windowMs);
  }
  const nextRoom = limit - amount;
  const toWindowEnd = (1 - frac) * windowMs;
  if (curr <= nextRoom) return Math.ceil(toWindowEnd);
  return Math.ceil(toWindowEnd + (1 - nextRoom / curr) * windowMs);
}

interface LimitState {
  limit: number;
  remaining: number;
  resetMs: number;
}

function headersFor(
  requests: LimitState | undefined,
  tokens: LimitState | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (requests !== undefined) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit);
    headers['x-ratelimit-remaining-requests'] = String(Math.floor(requests.remaining));
    headers['x-ratelimit-reset-requests'] = formatDuration(requests.resetMs);
  }
  if (tokens !== undefined) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit);
    headers['x-ratelimit-remaining-tokens'] = String(Math.floor(tokens.remaining));
    headers['x-ratelimit-reset-tokens'] = formatDuration(tokens.resetMs);
  }
  return headers;
}

function limitedError(c: Counter, waitMs: number, headers: Record<string, string>): SluiceError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  const unit = c.kind === 'requests' ? 'requests' : 'tokens';
  return new SluiceError(
    'rate_limited',
    `rate limit reached for ${c.rule.scope} "${c.id}": ${c.limit} ${unit} per minute; retry in ${seconds} s`,
    {
      retryAfterSeconds: seconds,
      headers: { ...headers, 'retry-after': String(seconds) },
      details: { source: 'gateway', scope: c.rule.scope, limit_type: unit, retry_after_ms: waitMs },
    },
  );
}

function tooLarge(c: Counter, amount: number): SluiceError {
  return new SluiceError(
    'rate_limited',
    `request needs about ${amount} tokens, more than the ${c.limit} tokens per minute allowed for ${c.rule.scope} "${c.id}"`,
    { details: { source: 'gateway', scope: c.rule.scope, limit_type: 'tokens', too_large: true } },
  );
}

/** True for errors made by this module (a gateway limit), as opposed to a provider's 429. */
export function isGatewayRateLimit(error: SluiceError): boolean {
  return error.code === 'rate_limited' && error.extra.details?.source === 'gateway';
}
