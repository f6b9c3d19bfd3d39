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
 *
 * With a `shared` store (Redis, several instances) the open and half-open states are shared:
 * `acquire()` asks the store before each attempt (one round trip), so when one instance opens
 * the circuit the others skip the upstream too, and of all instances exactly one takes the
 * half-open probe (SET NX). Consecutive failures are still counted per instance: an upstream
 * opens once any instance has seen `failureThreshold` failures in a row. The store away: each
 * instance decides alone, as without it.
 */
import { randomUUID } from 'node:crypto';
import type { SharedCircuitStore } from '../store/types.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

/** `neutral`: says nothing about the upstream's health (a 429, the client leaving). */
export type AttemptVerdict = 'success' | 'failure' | 'neutral';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  cooldownMs: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /** Open / half-open state shared with other instances. */
  shared?: SharedCircuitStore;
  /** How long a probe may hold the half-open slot before another instance may probe; default 60 s. */
  probeTtlMs?: number;
  /** The shared store failed (the decision was taken locally). */
  onSharedError?: (error: unknown) => void;
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
/** A shared circuit left half-open without a probe is forgotten (closed) after its cool-down plus this. */
const SHARED_HALF_OPEN_HOLD_MS = 5 * 60_000;

export class CircuitBreaker {
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  #consecutiveFailures = 0;
  #openedAt: number | undefined;
  #probeInFlight = false;
  #opens = 0;
  readonly #shared: SharedCircuitStore | undefined;
  readonly #probeTtlMs: number;
  readonly #onSharedError: (error: unknown) => void;
  /** This instance's name as a probe owner in the shared store. */
  readonly #owner = randomUUID();

  constructor(options: CircuitBreakerOptions) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1)
      throw new TypeError('circuit breaker: failureThreshold must be an integer >= 1');
    if (!(options.cooldownMs > 0)) throw new TypeError('circuit breaker: cooldownMs must be > 0');
    this.#threshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
    this.#now = options.now ?? Date.now;
    this.#shared = options.shared;
    this.#probeTtlMs = options.probeTtlMs ?? 60_000;
    this.#onSharedError = options.onSharedError ?? (() => {});
  }

  /**
   * The decision for the next attempt, asking the shared state when there is one (else the
   * same as `tryAcquire`). A circuit this instance knows to be open is refused without asking.
   */
  async acquire(): Promise<CircuitDecision> {
    const shared = this.#shared;
    if (!shared || this.state === 'open') return this.tryAcquire();
    let view: Awaited<ReturnType<SharedCircuitStore['acquire']>>;
    try {
      view = await shared.acquire(this.#owner, this.#probeTtlMs);
    } catch (error) {
      this.#onSharedError(error);
      return this.tryAcquire();
    }
    const now = this.#now();
    switch (view.state) {
      case 'closed':
        // Another instance's probe closed it (or it was never open): as closed here.
        if (this.#openedAt !== undefined && !this.#probeInFlight) {
          this.#openedAt = undefined;
          this.#consecutiveFailures = 0;
        }
        return { allowed: true, permit: this.#permit(false) };
      case 'open':
        // Mirror it, so the next requests here are refused without a round trip.
        if (this.#openedAt === undefined) this.#opens++;
        this.#openedAt = now - Math.max(0, this.#cooldownMs - view.retryInMs);
        return {
          allowed: false,
          retryAfterMs: view.retryInMs,
          reason: 'circuit open (opened by repeated failures seen by this or another instance)',
        };
      case 'probe':
        if (this.#openedAt === undefined) this.#openedAt = now - this.#cooldownMs;
        this.#probeInFlight = true;
        return { allowed: true, permit: this.#permit(true) };
      case 'probe_busy':
        if (this.#openedAt === undefined) this.#openedAt = now - this.#cooldownMs;
        return {
          allowed: false,
          retryAfterMs: Math.min(PROBE_BUSY_RETRY_MS, view.retryInMs || PROBE_BUSY_RETRY_MS),
          reason: 'circuit half-open, a probe is running',
        };
    }
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
    if (verdict === 'neutral') {
      if (probe) this.#tellShared((shared) => shared.settleProbe(this.#owner, false));
      return;
    }
    if (verdict === 'success') {
      this.#consecutiveFailures = 0;
      this.#openedAt = undefined;
      // Only the probe speaks for every instance; any other success is this instance's news.
      if (probe) this.#tellShared((shared) => shared.settleProbe(this.#owner, true));
      return;
    }
    this.#consecutiveFailures++;
    // A failure that started before the circuit opened must not push its cool-down back.
    if (probe || (this.#openedAt === undefined && this.#consecutiveFailures >= this.#threshold)) {
      const openedAt = this.#now();
      this.#openedAt = openedAt;
      this.#opens++;
      this.#tellShared((shared) =>
        shared.open(openedAt, this.#cooldownMs, SHARED_HALF_OPEN_HOLD_MS, probe ? this.#owner : undefined),
      );
    }
  }

  /** Fire and forget: a lost write leaves the others deciding from their own counts. */
  #tellShared(write: (shared: SharedCircuitStore) => Promise<void>): void {
    if (!this.#shared) return;
    write(this.#shared).catch((error: unknown) => this.#onSharedError(error));
  }
}
