import { isSluiceError, SluiceError } from '../errors.js';
import { afterReply } from '../pipeline/reply.js';
import type { RequestContext, Stage, Usage } from '../pipeline/types.js';
import { isStoreUnavailable, storeRefusal } from '../store/errors.js';
import type { RateLimitScope } from './config.js';
import type { RateLimiter, RateLimitReservation, RateLimitSubject } from './rate-limit.js';

export interface RateLimitStageDeps {
  limiter: RateLimiter;
  /**
   * Scopes this placement enforces. Caller scopes (`key`, `user`, `team`) go early in the
   * pipeline; `upstream` goes right before the queue stage, after caches and single-flight,
   * so only real upstream calls count against a provider's published limits.
   */
  scopes: readonly RateLimitScope[];
  /** Which upstream serves the request; required when `scopes` has `upstream`. */
  upstreamOf?: (ctx: RequestContext) => string;
  /** Prompt + max output tokens of a request (see estimate-tokens.ts for the default). */
  estimateTokens: (ctx: RequestContext) => number;
  /**
   * When over an upstream's limit, wait for the window to have room (while the request's
   * deadline allows) instead of answering 429. Caller limits always answer 429 at once.
   */
  waitForUpstream?: boolean;
  /** At most this many requests wait for an upstream window at once; more get 429 (default 1000). */
  maxWaiting?: number;
  /** Add the x-ratelimit-* headers to the response (default: yes, unless scopes has `upstream`). */
  exposeHeaders?: boolean;
  /** Every store failure is reported here (checks and settlements). */
  onStoreError?: (error: unknown) => void;
  /**
   * When the counters cannot be reached: `closed` (default) refuses the request with 503
   * `store_unavailable` and a Retry-After, so an outage never admits more than the limit;
   * `open` lets it through uncounted.
   */
  onStoreUnavailable?: 'closed' | 'open';
}

/** Counters of refusals by scope, for the stats. */
export type RateLimitRejections = Record<RateLimitScope, number>;

export interface RateLimitStage extends Stage {
  readonly rejected: Readonly<RateLimitRejections>;
}

const MAX_WAIT_STEP_MS = 5_000;

export function rateLimitStage(deps: RateLimitStageDeps): RateLimitStage {
  const { limiter, scopes, upstreamOf, estimateTokens, onStoreError } = deps;
  const failOpen = deps.onStoreUnavailable === 'open';
  if (scopes.length === 0) throw new TypeError('rateLimitStage: scopes must not be empty');
  const wantsUpstream = scopes.includes('upstream');
  if (wantsUpstream && upstreamOf === undefined) {
    throw new TypeError('rateLimitStage: upstreamOf is required for the upstream scope');
  }
  const exposeHeaders = deps.exposeHeaders ?? !wantsUpstream;
  const waitForUpstream = (deps.waitForUpstream ?? false) && wantsUpstream;
  const maxWaiting = deps.maxWaiting ?? 1000;
  let waiting = 0;
  const wants = (scope: RateLimitScope) => scopes.includes(scope);
  const [withKey, withUser, withTeam] = [wants('key'), wants('user'), wants('team')];
  const rejected: RateLimitRejections = { key: 0, user: 0, team: 0, upstream: 0 };

  const subjectOf = (ctx: RequestContext): RateLimitSubject => ({
    key: withKey ? ctx.caller.keyId : undefined,
    user: withUser ? ctx.caller.user : undefined,
    team: withTeam ? ctx.caller.team : undefined,
    tier: ctx.caller.tier,
    upstream: wantsUpstream ? upstreamOf!(ctx) : undefined,
  });

  const reserve = async (ctx: RequestContext): Promise<RateLimitReservation | undefined> => {
    const subject = subjectOf(ctx);
    const tokens = estimateTokens(ctx);
    for (;;) {
      try {
        return await limiter.reserve(subject, tokens);
      } catch (error) {
        if (!isSluiceError(error) || error.code !== 'rate_limited') {
          onStoreError?.(error);
          if (failOpen) return undefined;
          if (isStoreUnavailable(error)) throw storeRefusal('Rate limits', error);
          throw error;
        }
        const waitMs = error.extra.details?.retry_after_ms;
        const scope = error.extra.details?.scope as RateLimitScope;
        const canWait =
          waitForUpstream &&
          scope === 'upstream' &&
          typeof waitMs === 'number' &&
          Date.now() + waitMs < ctx.deadline &&
          waiting < maxWaiting;
        if (!canWait) {
          rejected[scope] = (rejected[scope] ?? 0) + 1;
          throw error;
        }
        waiting++;
        try {
          await sleep(Math.min(Math.max(1, waitMs), MAX_WAIT_STEP_MS), ctx.signal);
        } finally {
          waiting--;
        }
      }
    }
  };

  const stage = async (ctx: RequestContext, next: () => ReturnType<Stage>) => {
    const reservation = await reserve(ctx);
    if (reservation === undefined) return next();
    if (exposeHeaders) Object.assign(ctx.responseHeaders, reservation.headers);
    const settle = (actual: number) => {
      reservation.settle(actual).catch((error: unknown) => onStoreError?.(error));
    };
    let reply: Awaited<ReturnType<Stage>>;
    try {
      reply = await next();
    } catch (error) {
      settle(0); // no usage happened that we know of: give the tokens back
      throw error;
    }
    return afterReply(reply, () => {
      // A cache hit used no provider tokens (it still counts as a request). Without reported
      // usage: keep the estimate for a success, refund an error reply.
      if (ctx.cache === 'exact' || ctx.cache === 'semantic') settle(0);
      else if (ctx.usage !== undefined) settle(usageTokens(ctx.usage));
      else if (reply.status >= 400) settle(0);
    });
  };
  return Object.assign(stage, { rejected });
}

function usageTokens(u: Usage): number {
  return u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens + u.outputTokens;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(closed());
    const onAbort = () => {
      clearTimeout(timer);
      reject(closed());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const closed = () =>
  new SluiceError('client_closed', 'client closed the request while it waited for a rate limit');
