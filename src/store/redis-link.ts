import type { Redis } from 'ioredis';
import { StoreUnavailableError } from './errors.js';

/**
 * Replies Redis gives while it cannot serve (loading its data after a restart, a replica
 * without its primary, a failed save): the store is away, not the command wrong.
 */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MISCONF|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

/** The client refused to send the command (disconnected, nothing queued): it cannot have run. */
const NOT_SENT = /enableOfflineQueue/;

/** After a command times out, fail at once for this long instead of waiting again per command. */
const STALL_COOLDOWN_MS = 1_000;

/**
 * One Redis connection with the failure rules every store on it shares: a command that cannot
 * be sent (disconnected: the client queues nothing), times out, or is refused because Redis is
 * not ready throws `StoreUnavailableError`; a command error that is our own bug (a bad script,
 * a wrong type) stays what it is. After a timeout (Redis stalled, e.g. SIGSTOP or a long
 * BGSAVE fork) commands fail at once for a second, so a stalled Redis costs each request at
 * most one command timeout instead of one per command.
 */
export class RedisLink {
  readonly redis: Redis;
  readonly #now: () => number;
  #stalledUntil = 0;
  #failures = 0;

  constructor(redis: Redis, now: () => number = Date.now) {
    this.redis = redis;
    this.#now = now;
  }

  /** Whether a command would be sent now (connected and not in a stall cooldown). */
  get available(): boolean {
    return this.redis.status === 'ready' && this.#now() >= this.#stalledUntil;
  }

  /** Commands that failed because the store was away, since start (stats). */
  get failures(): number {
    return this.#failures;
  }

  async run<T>(op: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.#now() < this.#stalledUntil) {
      this.#failures++;
      throw new StoreUnavailableError('Redis is not answering (recent command timed out)');
    }
    try {
      return await op(this.redis);
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      this.#failures++;
      const message = (error as Error).message;
      if (message === 'Command timed out') this.#stalledUntil = this.#now() + STALL_COOLDOWN_MS;
      throw new StoreUnavailableError(`Redis unavailable: ${message}`, {
        cause: error,
        maybeApplied: !NOT_SENT.test(message),
      });
    }
  }
}

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof TypeError || error instanceof RangeError) return false;
  if (error.name === 'ReplyError') return UNAVAILABLE_REPLY.test(error.message);
  // Everything else the client throws is about the connection: not writable (offline queue off),
  // closed mid-command, retries exhausted (MaxRetriesPerRequestError), command timeout.
  return true;
}
