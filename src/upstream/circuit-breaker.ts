/**
 * A circuit breaker for one upstream, so a dead provider is not tried (with its retries and
 * backoff waits) on every request while a fallback could answer at once.
 *
 * closed ──(failureThreshold failures in a row)──▶ open ──(cooldownMs)──▶ half-open
 * half-open lets exactly one probe through: its success closes the circuit, its failure
 * opens it again for another cool-down. Other requests are refused while the probe runs.
 *
 * What counts is the caller's verdict on each attempt (see `AttemptVerdict`): connection
 * errors, timeouts and 5xx/529 are failures; any other answer shows the upstream is alive.
 * 429 is flow control's business: it neither counts as a failure nor resets the count.
 */

export type CircuitState = 'closed' | 'open' | 'half_open';

/** `neutral`: says nothing about the upstream's health (a 429, the client leaving). */
export type AttemptVerdict = 'success' | 'failure' | 'neutral';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

/** Leave to send one attempt; settle it exactly once with what came of it. */
export interface CircuitPermit {
  /** This attempt is the half-open probe. */
  readonly probe: boolean;
  settle(verdict: AttemptVerdict): void;
}

export type CircuitDecision =
  | { allowed: true; permit: CircuitPermit }
  | { allowed: false; retryAfterMs: number; reason: string };

export interface CircuitSnapshot {
  state: CircuitState;
  consecutive_failures: number;
  /** ISO time the circuit last opened; null while it has never opened since it last closed. */
  opened_at: string | null;
  /** Ms until an open circuit lets a probe through (0 when not open). */
  retry_in_ms: number;
  /** Times it opened since start. */
  opens: number;
}

/** While the probe runs, the others are told to come back this much later. */
const PROBE_BUSY_RETRY_MS = 1000;

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #consecutiveFailures = 0;
  #openedAt: number | undefined;
  #probeInFlight = false;
  #opens = 0;

  constructor(options: CircuitBreakerOptions) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1)
      throw new TypeError('circuit breaker: failureThreshold must be an integer >= 1');
    if (!(options.cooldownMs > 0)) throw new TypeError('circuit breaker: cooldownMs must be > 0');
    this.#threshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
    this.#now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#now() - this.#openedAt >= this.#cooldownMs ? 'half_open' : 'open';
  }

  tryAcquire(): CircuitDecision {
    const state = this.state;
    if (state === 'closed') return { allowed: true, permit: this.#permit(false) };
    if (state === 'open') {
      return {
        allowed: false,
        retryAfterMs: this.#openedAt! + this.#cooldownMs - this.#now(),
        reason: `circuit open after ${this.#consecutiveFailures} consecutive failures`,
      };
    }
    if (this.#probeInFlight) {
      return {
        allowed: false,
        retryAfterMs: PROBE_BUSY_RETRY_MS,
        reason: 'circuit half-open, a probe is running',
      };
    }
    this.#probeInFlight = true;
    return { allowed: true, permit: this.#permit(true) };
  }

  snapshot(): CircuitSnapshot {
    const state = this.state;
    return {
      state,
      consecutive_failures: this.#consecutiveFailures,
      opened_at: this.#openedAt === undefined ? null : new Date(this.#openedAt).toISOString(),
      retry_in_ms: state === 'open' ? this.#openedAt! + this.#cooldownMs - this.#now() : 0,
      opens: this.#opens,
    };
  }

  #permit(probe: boolean): CircuitPermit {
    let settled = false;
    return {
      probe,
      settle: (verdict) => {
        if (settled) return;
        settled = true;
        this.#record(probe, verdict);
      },
    };
  }

  #record(probe: boolean, verdict: AttemptVerdict): void {
    if (probe) this.#probeInFlight = false;
    // Neither way: a neutral probe (a 429, the client leaving) frees the slot for the next one.
    if (verdict === 'neutral') return;
    if (verdict === 'success') {
      this.#consecutiveFailures = 0;
      this.#openedAt = undefined;
      return;
    }
    this.#consecutiveFailures++;
    // A failure that started before the circuit opened must not push its cool-down back.
    if (probe || (this.#openedAt === undefined && this.#consecutiveFailures >= this.#threshold)) {
      this.#openedAt = this.#now();
      this.#opens++;
    }
  }
}
