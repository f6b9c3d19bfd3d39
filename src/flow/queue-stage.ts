import { scopeOf } from '../cache/key.js';
import { isSluiceError } from '../errors.js';
import { observeQueue } from '../observe/observation.js';
import { afterReply } from '../pipeline/reply.js';
import type { Priority, Reply, RequestContext, Stage } from '../pipeline/types.js';
import type { FlowConfig } from './config.js';
import type {
  AcquireRequest,
  ConcurrencyLimiter,
  Permit,
  ReleaseOutcome,
  ThrottleSignal,
} from './limiter.js';
import type { LimiterRegistry } from './limiters.js';
import { providerRemainingFrom, retryAfterMsFrom } from './provider-headers.js';
import { isGatewayRateLimit } from './rate-limit.js';

/**
 * Tell the request's limiter that one upstream attempt was answered 429 (no-op without a queue
 * stage). The queue stage sets `ctx.reportThrottle`, which the upstream stage calls through this
 * for every such attempt, so the limiter backs off at the first one rather than when the request
 * has spent its retries.
 */
export function reportUpstreamThrottle(ctx: RequestContext, signal: ThrottleSignal): void {
  ctx.reportThrottle?.(signal);
}

export interface QueueStageDeps {
  limiters: LimiterRegistry;
  /** Name of the upstream that will serve this request (the route's choice). */
  upstreamOf: (ctx: RequestContext) => string;
  config: Pick<FlowConfig, 'fairnessKey' | 'tierPriority'>;
}

/**
 * Wait for a slot on the request's upstream (and model, when it has its own limit), call the
 * rest of the pipeline, give the slot back when the reply is complete (a stream at its end),
 * and tell the limiter when the provider said "slow down". A request that waited has
 * `ctx.queueWaitMs` set.
 */
export function queueStage(deps: QueueStageDeps): Stage {
  const { limiters, upstreamOf, config } = deps;
  if (typeof upstreamOf !== 'function') throw new TypeError('queueStage: upstreamOf must be a function');
  const callerIdOf = callerIdFor(config.fairnessKey);
  const tierPriority = config.tierPriority;

  const requestOf = (ctx: RequestContext): AcquireRequest => ({
    priority: priorityOf(ctx, tierPriority),
    callerId: callerIdOf(ctx),
    deadline: ctx.deadline,
    signal: ctx.signal,
  });

  /** Permits from an upstream's chain (and its model's limiter, when it has one), waiting if need be. */
  const acquireChain = async (ctx: RequestContext, upstream: string, model: string): Promise<Held> => {
    const chain = limiters.chainFor(upstream, model);
    // Fast path first: a free slot is taken synchronously, no request object, no extra promise.
    const first = chain[0].tryAcquire(ctx.deadline) ?? (await chain[0].acquire(requestOf(ctx)));
    let second: Permit | undefined;
    if (chain.length > 1) {
      try {
        second = chain[1].tryAcquire(ctx.deadline) ?? (await chain[1].acquire(requestOf(ctx)));
      } catch (error) {
        first.release(FAILED);
        throw error;
      }
    }
    return { chain, first, second };
  };

  return async (ctx, next) => {
    const upstream = upstreamOf(ctx);
    const queued = observeQueue(ctx, upstream);
    let held: Held | undefined = await acquireChain(ctx, upstream, ctx.model);
    const waited = held.first.waitedMs + (held.second?.waitedMs ?? 0);
    if (waited > 0) ctx.queueWaitMs = waited;
    // The most specific limiter (the model's, for per-model limits) takes the 429s.
    ctx.reportThrottle = (signal: ThrottleSignal) => held?.first.throttled(signal);
    ctx.queueOn = async (other, model, previous) => {
      if (held && held.chain === limiters.chainFor(other, model)) return;
      if (held) releaseHeld(held, previous === 'failed' ? FAILED : SUCCESS);
      held = undefined;
      held = await acquireChain(ctx, other, model);
    };
    queued.end(waited);

    let reply: Reply;
    try {
      reply = await next();
    } catch (error) {
      if (held) releaseHeld(held, outcomeOfError(error));
      throw error;
    }
    const outcome = outcomeOfReply(reply);
    if (!held) return reply;
    if (reply.kind === 'json') {
      releaseHeld(held, outcome);
      return reply;
    }
    return releaseAtStreamEnd(reply, ctx.signal, held.first, held.second, outcome);
  };
}

/** The permits a request holds: from the limiter chain of the upstream it is calling. */
interface Held {
  chain: readonly ConcurrencyLimiter[];
  first: Permit;
  second: Permit | undefined;
}

function releaseHeld(held: Held, outcome: ReleaseOutcome): void {
  held.first.release(outcome);
  held.second?.release(upstreamShare(outcome));
}

/**
 * A provider 429 lowers the most specific limiter (the model's, for per-model limits); the
 * upstream limiter behind it just gets its slot back, unless the 429 came with a hold.
 */
function upstreamShare(outcome: ReleaseOutcome): ReleaseOutcome {
  return outcome.throttled ? { failed: true } : outcome;
}

function releaseAtStreamEnd(
  reply: Reply,
  signal: AbortSignal,
  first: Permit,
  second: Permit | undefined,
  outcome: ReleaseOutcome,
): Reply {
  const release = () => {
    signal.removeEventListener('abort', release);
    first.release(outcome);
    second?.release(upstreamShare(outcome));
  };
  // A client that leaves before the stream is read never runs the stream's `finally`:
  // the abort frees the slot then (release is idempotent).
  signal.addEventListener('abort', release, { once: true });
  return afterReply(reply, (done) => {
    if (!done.completed && outcome.throttled !== true) outcome = { ...outcome, failed: true };
    release();
  });
}

function outcomeOfReply(reply: Reply): ReleaseOutcome {
  if (reply.status === 429) return { throttled: true, retryAfterMs: retryAfterMsFrom(reply.headers) };
  const remaining = providerRemainingFrom(reply.headers);
  if (reply.status >= 500) return { failed: true, remaining };
  return remaining === undefined ? SUCCESS : { remaining };
}

function outcomeOfError(error: unknown): ReleaseOutcome {
  if (isSluiceError(error) && !isGatewayRateLimit(error)) {
    const providerThrottled =
      error.code === 'rate_limited' || (error.code === 'upstream_error' && error.status === 429);
    if (providerThrottled) {
      const fromHeaders = error.extra.headers ? retryAfterMsFrom(error.extra.headers) : undefined;
      const seconds = error.extra.retryAfterSeconds;
      return { throttled: true, retryAfterMs: seconds !== undefined ? seconds * 1000 : fromHeaders };
    }
  }
  return FAILED;
}

const SUCCESS: ReleaseOutcome = Object.freeze({});
const FAILED: ReleaseOutcome = Object.freeze({ failed: true });

/**
 * An explicit `x-sluice-priority` wins (the server put it in ctx.priority); without one, the
 * caller's tier may map to a priority.
 */
function priorityOf(ctx: RequestContext, tierPriority: Readonly<Record<string, Priority>>): Priority {
  const tier = ctx.caller.tier;
  if (
    tier !== undefined &&
    ctx.headers['x-sluice-priority'] === undefined &&
    Object.hasOwn(tierPriority, tier)
  ) {
    return tierPriority[tier];
  }
  return ctx.priority;
}

/**
 * The fairness lane of a caller: the same unambiguous identity the caches scope by, so a team,
 * a key and a user of the same name (or users of the same name in two teams, with `user`)
 * never share a turn.
 */
function callerIdFor(fairnessKey: FlowConfig['fairnessKey']): (ctx: RequestContext) => string {
  return (ctx) => scopeOf(fairnessKey, ctx.caller);
}
