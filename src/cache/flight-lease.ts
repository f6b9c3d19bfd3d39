import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SluiceError } from '../errors.js';
import { afterReply } from '../pipeline/reply.js';
import type { Next, Reply, RequestContext } from '../pipeline/types.js';
import { compositeKey } from '../store/composite-key.js';
import type { LeaseStore } from '../store/types.js';
import { cacheDirectives } from './policy.js';

/**
 * Single-flight across instances. Of the identical cacheable requests in flight on several
 * instances, the one whose instance takes the request's lease (`SET NX PX` on Redis) calls
 * upstream; the others wait for the exact-cache entry its answer leaves and serve it as a hit.
 * The leader renews the lease while its call (or stream) runs; when it ends, a short `done`
 * marker replaces the lease while the entry is written. A lease that expires without an
 * entry (the leader's process died) or is given up (the leader's call failed) is taken over by
 * one waiting instance, which calls upstream itself.
 *
 * A streaming request that waits on another instance gets the whole answer replayed once it is
 * stored: it loses time-to-first-token (the stream is only shared live within one instance).
 * Redis away: each instance goes on alone (per-process single-flight still holds), never a failure.
 */
export interface FlightLeaseDeps {
  leases: LeaseStore;
  /** The stored answer under an exact-cache key, shaped for `ctx` (a hit), or undefined. */
  storedReply(cacheKey: string, ctx: RequestContext): Promise<Reply | undefined>;
  /** Lease life without renewal (a dead leader is taken over after at most this); default 5 s. */
  leaseMs?: number;
  /** Redis failed: this request went on without the lease (logged by the caller). */
  onError?(error: unknown): void;
}

/** Left in the lease's place once the leader has answered, while its entry is being written. */
const DONE = 'done';
/** How long followers wait for the entry after `done` before one of them calls upstream. */
const DONE_GRACE_MS = 2_000;
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 250;

/** `next()` for the local leader of a flight: under the shared lease, or served from the other instance's answer. */
export async function underFlightLease(
  ctx: RequestContext,
  next: Next,
  deps: FlightLeaseDeps,
): Promise<Reply> {
  const cacheKey = ctx.cacheKey;
  if (cacheKey === undefined || !sharesAcrossInstances(ctx)) return next();
  // The entry is the same whatever the reply's shape (JSON, stream): one lease per cache key.
  const key = compositeKey('flight', cacheKey);
  const owner = randomUUID();
  const leaseMs = deps.leaseMs ?? 5_000;
  for (;;) {
    let acquired: boolean;
    try {
      acquired = await deps.leases.acquire(key, owner, leaseMs);
    } catch (error) {
      deps.onError?.(error);
      return next();
    }
    if (acquired) return leadUnderLease(ctx, next, deps, key, owner, leaseMs);
    const waited = await waitForLeader(ctx, deps, key, cacheKey);
    if (waited === 'store-away') return next();
    if (waited !== 'take-over') return waited;
  }
}

/**
 * A refresh (`no-cache`) must not be served an entry another request stored, and an answer
 * that will not be stored (TTL 0) leaves nothing to wait for: both go on alone.
 */
function sharesAcrossInstances(ctx: RequestContext): boolean {
  try {
    const directives = cacheDirectives(ctx.headers);
    return !directives.noCache && directives.ttlSeconds !== 0;
  } catch {
    return false;
  }
}

async function leadUnderLease(
  ctx: RequestContext,
  next: Next,
  deps: FlightLeaseDeps,
  key: string,
  owner: string,
  leaseMs: number,
): Promise<Reply> {
  const renewer = setInterval(
    () => void deps.leases.renew(key, owner, leaseMs).catch(() => {}),
    Math.max(1, Math.floor(leaseMs / 3)),
  );
  renewer.unref();
  let ended = false;
  const end = (answered: boolean) => {
    if (ended) return;
    ended = true;
    clearInterval(renewer);
    deps.leases
      .release(key, owner, answered ? { value: DONE, ttlMs: DONE_GRACE_MS } : undefined)
      .catch(() => {});
  };
  let reply: Reply;
  try {
    reply = await next();
  } catch (error) {
    end(false);
    throw error;
  }
  // Only an answer the exact cache will store is worth waiting for; else a follower takes over.
  if (reply.status !== 200 || ctx.cache !== 'miss') {
    end(false);
    return reply;
  }
  return afterReply(reply, (outcome) => end(outcome.completed));
}

type Waited = Reply | 'take-over' | 'store-away';

/** Poll (with backoff) until the leader's entry is stored, or its lease is gone: then take over. */
async function waitForLeader(
  ctx: RequestContext,
  deps: FlightLeaseDeps,
  key: string,
  cacheKey: string,
): Promise<Waited> {
  let delay = FIRST_POLL_MS;
  for (;;) {
    let holder: string | undefined;
    try {
      holder = await deps.leases.holder(key);
    } catch (error) {
      deps.onError?.(error);
      return 'store-away';
    }
    if (holder === undefined || holder === DONE) {
      const stored = await deps.storedReply(cacheKey, ctx);
      if (stored) return stored;
      if (holder === undefined) return 'take-over';
    }
    const left = ctx.deadline - Date.now();
    if (left <= 0) {
      throw new SluiceError(
        'upstream_timeout',
        'deadline passed waiting for an identical request on another instance',
      );
    }
    try {
      await sleep(Math.min(delay, left), undefined, { signal: ctx.signal });
    } catch {
      if (Date.now() >= ctx.deadline) continue; // the deadline's own abort: reported above
      throw new SluiceError('client_closed', 'client closed the connection');
    }
    delay = Math.min(MAX_POLL_MS, Math.ceil(delay * 1.5));
  }
}
