import type { RequestContext, Stage } from '../pipeline/types.js';
import type { CounterStore } from '../store/types.js';
import type { FlowConfig } from './config.js';
import { roughRequestTokens } from './estimate-tokens.js';
import type { LimiterStats } from './limiter.js';
import { LimiterRegistry } from './limiters.js';
import { queueStage } from './queue-stage.js';
import { RateLimiter } from './rate-limit.js';
import { type RateLimitRejections, type RateLimitStage, rateLimitStage } from './rate-limit-stage.js';
import { DrainTracker, shutdownStage } from './shutdown.js';

export { type FlowConfig, flowConfigSchema } from './config.js';
export {
  type AcquireRequest,
  ConcurrencyLimiter,
  type LimiterStats,
  Permit,
  type ThrottleSignal,
  type ReleaseOutcome,
} from './limiter.js';
export { LimiterRegistry } from './limiters.js';
export { queueStage, reportUpstreamThrottle } from './queue-stage.js';
export { RateLimiter } from './rate-limit.js';
export { rateLimitStage } from './rate-limit-stage.js';
export { DrainTracker, handleTermination, shutdownStage } from './shutdown.js';

export interface FlowDeps {
  /** Shared counters (memory, SQLite or Redis): rate limits live there. */
  store: CounterStore;
  /** Name of the upstream serving a request (the route's choice). */
  upstreamOf: (ctx: RequestContext) => string;
  /** Prompt + max output tokens; defaults to a rough chars/4 estimate. */
  estimateTokens?: (ctx: RequestContext) => number;
  onStoreError?: (error: unknown) => void;
  /** What rate limits do while their store is away (config `store.failMode.rateLimits`). */
  onStoreUnavailable?: 'closed' | 'open';
}

export interface FlowStats {
  /** Keyed by upstream name (or `upstream/model` for per-model limits). */
  upstreams: Record<string, LimiterStats>;
  /** Gateway rate-limit refusals by scope. */
  rateLimited: RateLimitRejections;
  /** Requests accepted and not finished; `accepting` false while shutting down. */
  active: number;
  accepting: boolean;
}

/**
 * Everything flow control adds to the pipeline, built once at boot. Stages that have nothing
 * to do (no rate-limit rules for their scopes) are undefined: leave them out of the pipeline.
 *
 * Suggested order: shutdown (first) → callerRateLimit → budget/caches/shape/flight →
 * upstreamRateLimit → queue → upstream.
 */
export interface FlowControl {
  tracker: DrainTracker;
  limiters: LimiterRegistry;
  shutdownStage: Stage;
  callerRateLimitStage?: RateLimitStage;
  upstreamRateLimitStage?: RateLimitStage;
  queueStage: Stage;
  stats(): FlowStats;
}

export function createFlowControl(config: FlowConfig, deps: FlowDeps): FlowControl {
  const tracker = new DrainTracker();
  const limiters = new LimiterRegistry(config);
  const rateLimiter = new RateLimiter({ rules: config.rateLimits, store: deps.store });
  const estimateTokens =
    deps.estimateTokens ?? ((ctx) => roughRequestTokens(ctx, config.assumedOutputTokens));
  const common = {
    limiter: rateLimiter,
    estimateTokens,
    onStoreError: deps.onStoreError,
    onStoreUnavailable: deps.onStoreUnavailable,
  };
  const callerScopes = ['key', 'user', 'team'] as const;
  const callerRateLimitStage = rateLimiter.hasRulesFor(callerScopes)
    ? rateLimitStage({ ...common, scopes: callerScopes })
    : undefined;
  const upstreamRateLimitStage = rateLimiter.hasRulesFor(['upstream'])
    ? rateLimitStage({
        ...common,
        scopes: ['upstream'],
        upstreamOf: deps.upstreamOf,
        waitForUpstream: true,
        maxWaiting: config.defaults.maxQueue,
      })
    : undefined;
  return {
    tracker,
    limiters,
    shutdownStage: shutdownStage(tracker),
    callerRateLimitStage,
    upstreamRateLimitStage,
    queueStage: queueStage({ limiters, upstreamOf: deps.upstreamOf, config }),
    stats: () => {
      const rateLimited: RateLimitRejections = { key: 0, user: 0, team: 0, upstream: 0 };
      for (const stage of [callerRateLimitStage, upstreamRateLimitStage]) {
        if (stage === undefined) continue;
        for (const [scope, n] of Object.entries(stage.rejected))
          rateLimited[scope as keyof RateLimitRejections] += n;
      }
      return {
        upstreams: limiters.stats(),
        rateLimited,
        active: tracker.active,
        accepting: tracker.accepting,
      };
    },
  };
}
