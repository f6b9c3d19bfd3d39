import { SluiceError } from '../errors.js';
import type { Priority } from '../pipeline/types.js';
import {
  type AimdConfig,
  aimdConfigSchema,
  type DeadlineAdmissionConfig,
  deadlineAdmissionSchema,
} from './config.js';
import { FairQueue, FairQueueNode } from './fair-queue.js';
import type { ProviderRemaining } from './provider-headers.js';
import { RecentServiceTimes } from './service-times.js';
import { RecentSamples } from './wait-stats.js';

/**
 * Admission control for one upstream (or one model of it): at most `limit` requests in
 * flight, the rest wait in a bounded fair queue (priority levels x per-caller round-robin).
 * The limit adapts AIMD-style to the provider: halve at the first 429 of an overload, +1 after
 * a run of successes, and no dispatch at all until the provider's Retry-After has passed.
 * A 429 is reported per upstream attempt (`Permit.throttled`), not when the request gives up
 * after its retries: the 429s of one overload arrive together, and waiting for retries to run
 * out left the limit high while most of them came in. One cut per `decreaseWindowMs`, and none
 * for a 429 to an attempt sent before the last cut (it measured the load the cut already
 * answered), so a request that retried past a 429 does not cut again once the fault is over. Every request either gets a permit or a SluiceError:
 * `queue_full` (429), `queue_timeout` (504, its deadline passed while waiting) or
 * `client_closed` (the client went away while waiting; it never reaches the upstream).
 *
 * Deadline-aware admission (unless disabled): the limiter keeps recent service times (permit
 * granted → released) and will not hand a permit to a request with less of its deadline left
 * than their p90 (`deadline_unreachable`, 504, at once or when its turn comes), nor queue a
 * request whose expected wait plus that p90 exceeds its deadline (429 `queue_full`, reason
 * `wait_exceeds_deadline`, Retry-After = how much sooner it would have needed to come).
 * Otherwise under overload the queue fills with requests that reach the upstream only to be
 * aborted at their deadline, and the upstream's capacity is spent on answers nobody gets.
 */

export const PRIORITY_LEVEL: Readonly<Record<Priority, number>> = { high: 0, normal: 1, low: 2 };

export interface LimiterOptions {
  name: string;
  maxConcurrency: number;
  maxQueue: number;
  aimd?: Partial<AimdConfig>;
  deadlineAdmission?: Partial<DeadlineAdmissionConfig>;
}

export interface AcquireRequest {
  priority: Priority;
  /** Identity that gets a fair share within a priority (key id, user or team). */
  callerId: string;
  /** Epoch ms; the wait in the queue ends with `queue_timeout` when it passes. */
  deadline: number;
  /** Aborted when the client disconnects: the waiter leaves the queue at once. */
  signal?: AbortSignal;
}

export interface ReleaseOutcome {
  /** The upstream answered 429 (or another "slow down" signal). */
  throttled?: boolean;
  /** The provider's Retry-After, in ms; no dispatch to this upstream before it passes. */
  retryAfterMs?: number;
  /** Quota left, from the provider's x-ratelimit-remaining-* headers. */
  remaining?: ProviderRemaining;
  /** The call failed for another reason: it neither raises nor lowers the adaptive limit. */
  failed?: boolean;
}

export type RejectCause =
  | 'queue_full'
  | 'queue_timeout'
  | 'client_closed'
  /** Less deadline left than the upstream's recent p90 (504, never sent upstream). */
  | 'deadline_unreachable'
  /** Expected queue wait + p90 exceed the deadline (429 at enqueue). */
  | 'wait_exceeds_deadline';

export interface LimiterStats {
  name: string;
  queued: number;
  queuedByPriority: Record<Priority, number>;
  inFlight: number;
  /** The current adaptive limit. */
  limit: number;
  maxConcurrency: number;
  maxQueue: number;
  /** Ms left of a provider-imposed hold (Retry-After); 0 when none. */
  holdMs: number;
  waitMsP50: number;
  waitMsP99: number;
  /** The recent service-time quantile admission uses (ms); 0 while unknown or disabled. */
  serviceMsQuantile: number;
  /** Moving average of how long a permit is held (ms). */
  serviceMsAvg: number;
  admitted: number;
  /** Upstream 429s seen. */
  throttled: number;
  rejected: Record<RejectCause, number>;
}

const DEFAULT_AIMD: AimdConfig = aimdConfigSchema.parse(undefined);
const DEFAULT_DEADLINE_ADMISSION: DeadlineAdmissionConfig = deadlineAdmissionSchema.parse(undefined);
/** With no permit granted for this long (or the estimate, if longer), one request probes. */
const PROBE_INTERVAL_MS = 1000;
/** Holds derived from remaining-quota headers are capped: a wrong header must not stall us for long. */
const MAX_QUOTA_HOLD_MS = 60_000;
/** setTimeout's ceiling; a longer deadline is treated as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const kRelease = Symbol('release');
const kThrottle = Symbol('throttle');

/** One upstream attempt answered 429 (or 529). */
export interface ThrottleSignal {
  /** Epoch ms the attempt was sent. */
  sentAt: number;
  /** The provider's Retry-After, in ms. */
  retryAfterMs?: number;
}

export class Permit {
  #released = false;
  #throttled = false;
  constructor(
    private readonly limiter: ConcurrencyLimiter,
    readonly grantedAt: number,
    /** Time spent in the queue; 0 on the fast path. */
    readonly waitedMs: number,
  ) {}

  /** Whether an attempt made under this permit was answered 429 (reported by `throttled`). */
  get sawThrottle(): boolean {
    return this.#throttled;
  }

  /**
   * An attempt made under this permit was answered 429: the limiter reacts now, while the
   * request may still retry. The release then needs no `throttled` outcome (one given is not
   * counted twice).
   */
  throttled(signal: ThrottleSignal): void {
    if (this.#released) return;
    this.#throttled = true;
    this.limiter[kThrottle](signal);
  }

  /** Give the slot back. Safe to call more than once; only the first call counts. */
  release(outcome?: ReleaseOutcome): void {
    if (this.#released) return;
    this.#released = true;
    this.limiter[kRelease](this, outcome);
  }
}

class Waiter extends FairQueueNode {
  timer: NodeJS.Timeout | undefined = undefined;
  constructor(
    readonly limiter: ConcurrencyLimiter,
    readonly enqueuedAt: number,
    readonly deadline: number,
    readonly signal: AbortSignal | undefined,
    readonly resolve: (permit: Permit) => void,
    readonly reject: (error: SluiceError) => void,
  ) {
    super();
  }
  /** EventListener object form: no closure per waiter. */
  handleEvent(): void {
    // The HTTP edge also aborts the signal just after the deadline, as a backstop: on a busy
    // loop that can run before the deadline timer, and it is still a timeout, not a leaving client.
    this.limiter[kDrop](this, Date.now() >= this.deadline ? 'queue_timeout' : 'client_closed');
  }
}

const kDrop = Symbol('drop');
const kCheckWaiter = Symbol('checkWaiter');
const onWaiterTimer = (waiter: Waiter) => waiter.limiter[kCheckWaiter](waiter);

export class ConcurrencyLimiter {
  readonly name: string;
  readonly maxConcurrency: number;
  readonly maxQueue: number;
  readonly #aimd: AimdConfig;
  readonly #queue = new FairQueue<Waiter>(3);
  readonly #waits = new RecentSamples();
  /** Undefined when deadline-aware admission is off. */
  readonly #serviceTimes: RecentServiceTimes | undefined;
  readonly #quantileLabel: string;
  #limit: number;
  #effectiveLimit: number;
  #inFlight = 0;
  /** When the limit was last cut; -Infinity before the first cut. */
  #lastDecreaseAt = Number.NEGATIVE_INFINITY;
  #successStreak = 0;
  #holdUntil = 0;
  #holdTimer: NodeJS.Timeout | undefined = undefined;
  #holdTimerAt = 0;
  /** Moving average of how long a permit is held; drives the Retry-After we suggest. */
  #serviceMsAvg = 0;
  #admitted = 0;
  #lastGrantAt = 0;
  #throttled = 0;
  readonly #rejected: Record<RejectCause, number> = {
    queue_full: 0,
    queue_timeout: 0,
    client_closed: 0,
    deadline_unreachable: 0,
    wait_exceeds_deadline: 0,
  };

  constructor(options: LimiterOptions) {
    const { name, maxConcurrency, maxQueue } = options;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new TypeError(`limiter ${name}: maxConcurrency must be an integer >= 1`);
    }
    if (!Number.isInteger(maxQueue) || maxQueue < 0)
      throw new TypeError(`limiter ${name}: maxQueue must be >= 0`);
    const aimd = { ...DEFAULT_AIMD, ...options.aimd };
    if (
      aimd.min < 1 ||
      aimd.decreaseFactor <= 0 ||
      aimd.decreaseFactor >= 1 ||
      aimd.increaseEvery < 1 ||
      !(aimd.decreaseWindowMs >= 0)
    ) {
      throw new TypeError(`limiter ${name}: invalid aimd settings`);
    }
    this.name = name;
    this.maxConcurrency = maxConcurrency;
    this.maxQueue = maxQueue;
    this.#aimd = { ...aimd, min: Math.min(aimd.min, maxConcurrency) };
    this.#limit = maxConcurrency;
    this.#effectiveLimit = maxConcurrency;
    const admission = { ...DEFAULT_DEADLINE_ADMISSION, ...options.deadlineAdmission };
    this.#serviceTimes = admission.enabled
      ? new RecentServiceTimes({
          quantile: admission.quantile,
          window: admission.window,
          minSamples: admission.minSamples,
          maxAgeMs: admission.maxSampleAgeMs,
        })
      : undefined;
    this.#quantileLabel = `p${Math.round(admission.quantile * 100)}`;
  }

  get inFlight(): number {
    return this.#inFlight;
  }
  get queued(): number {
    return this.#queue.size;
  }
  get limit(): number {
    return this.#effectiveLimit;
  }

  /**
   * The fast path: a permit now if a slot is free, nobody waits ahead and (given a deadline)
   * enough of it is left for the upstream's recent p90, else undefined (`acquire` then says
   * why). Synchronous, allocates only the permit.
   */
  tryAcquire(deadline?: number): Permit | undefined {
    if (this.#queue.size > 0 || this.#inFlight >= this.#effectiveLimit) return undefined;
    const now = Date.now();
    if (this.#holdUntil !== 0) {
      if (now < this.#holdUntil) return undefined;
      this.#holdUntil = 0;
    }
    if (deadline !== undefined && deadline - now < this.#neededMs(now) && !this.#probeDue(now)) {
      return undefined;
    }
    this.#inFlight++;
    this.#admitted++;
    this.#lastGrantAt = now;
    this.#waits.record(0);
    return new Permit(this, now, 0);
  }

  /** A permit when a slot is free and it is this request's turn; rejects as described above. */
  acquire(req: AcquireRequest): Promise<Permit> {
    if (req.signal?.aborted) return this.#refuse('client_closed', closedError(this.name));
    const fast = this.tryAcquire(req.deadline);
    if (fast !== undefined) return Promise.resolve(fast);
    const now = Date.now();
    if (req.deadline <= now) return this.#refuse('queue_timeout', timeoutError(this.name, 0));
    const level = PRIORITY_LEVEL[req.priority] ?? PRIORITY_LEVEL.normal;
    const neededMs = this.#neededMs(now);
    if (neededMs > 0) {
      const leftMs = req.deadline - now;
      if (leftMs < neededMs && !this.#probeDue(now)) {
        return this.#refuse('deadline_unreachable', this.#unreachableError(leftMs, neededMs, 0));
      }
      const waitMs = this.#expectedWaitMs(level, req.callerId, now);
      if (waitMs + neededMs > leftMs) {
        return this.#refuse('wait_exceeds_deadline', this.#tooLongWaitError(leftMs, neededMs, waitMs));
      }
    }
    if (this.#queue.size >= this.maxQueue) {
      const victim = this.#queue.victimFor(level, req.callerId);
      if (victim === undefined) return this.#refuse('queue_full', this.#fullError(false));
      this.#queue.remove(victim);
      this.#settleWaiter(victim);
      this.#rejected.queue_full++;
      victim.reject(this.#fullError(true));
    }
    return new Promise<Permit>((resolve, reject) => {
      const waiter = new Waiter(this, now, req.deadline, req.signal, resolve, reject);
      this.#queue.push(waiter, level, req.callerId);
      this.#armWaiterTimer(waiter, now, neededMs);
      req.signal?.addEventListener('abort', waiter, { once: true });
      // Slots are free yet we queued: a provider hold is on. Wake up when it ends.
      if (this.#inFlight < this.#effectiveLimit) this.#pump();
    });
  }

  stats(): LimiterStats {
    const [p50, p99] = this.#waits.percentiles(50, 99);
    return {
      name: this.name,
      queued: this.#queue.size,
      queuedByPriority: {
        high: this.#queue.sizeAt(PRIORITY_LEVEL.high),
        normal: this.#queue.sizeAt(PRIORITY_LEVEL.normal),
        low: this.#queue.sizeAt(PRIORITY_LEVEL.low),
      },
      inFlight: this.#inFlight,
      limit: this.#effectiveLimit,
      maxConcurrency: this.maxConcurrency,
      maxQueue: this.maxQueue,
      holdMs: Math.max(0, this.#holdUntil - Date.now()),
      waitMsP50: p50,
      waitMsP99: p99,
      serviceMsQuantile: Math.round(this.#serviceTimes?.estimate(Date.now()) ?? 0),
      serviceMsAvg: Math.round(this.#serviceMsAvg),
      admitted: this.#admitted,
      throttled: this.#throttled,
      rejected: { ...this.#rejected },
    };
  }

  /** Seconds a refused caller should wait: the provider's hold, or the time to drain the queue. */
  suggestedRetryAfterSeconds(): number {
    const holdMs = Math.max(0, this.#holdUntil - Date.now());
    const serviceMs = this.#serviceMsAvg > 0 ? this.#serviceMsAvg : 1000;
    const drainMs = ((this.#queue.size + 1) / this.#effectiveLimit) * serviceMs;
    return Math.min(300, Math.max(1, Math.ceil(Math.max(holdMs, drainMs) / 1000)));
  }

  [kRelease](permit: Permit, outcome: ReleaseOutcome | undefined): void {
    this.#inFlight--;
    const now = Date.now();
    const heldMs = now - permit.grantedAt;
    this.#serviceMsAvg =
      this.#serviceMsAvg === 0 ? heldMs : this.#serviceMsAvg + (heldMs - this.#serviceMsAvg) / 16;
    this.#recordServiceTime(heldMs, outcome, now);
    if (permit.sawThrottle) {
      // Already counted attempt by attempt. A success after a retried 429 is no evidence the
      // provider has room again: it neither cuts nor grows the limit.
    } else if (outcome?.throttled) {
      // Reported only at the end (no attempt-level report): the attempt went out at the grant.
      this.#onThrottled({ sentAt: permit.grantedAt, retryAfterMs: outcome.retryAfterMs }, now);
    } else {
      if (outcome?.remaining !== undefined) this.#onRemaining(outcome.remaining, now);
      if (!outcome?.failed) this.#onSuccess();
    }
    this.#pump();
  }

  [kThrottle](signal: ThrottleSignal): void {
    this.#onThrottled(signal, Date.now());
  }

  /**
   * The waiter's timer: its deadline passed (queue_timeout), or so little of it is left that
   * the upstream could no longer answer in time: say so now rather than at the deadline.
   */
  [kCheckWaiter](waiter: Waiter): void {
    const now = Date.now();
    if (now >= waiter.deadline) {
      this[kDrop](waiter, 'queue_timeout');
      return;
    }
    const neededMs = this.#neededMs(now);
    if (waiter.deadline - now >= neededMs) {
      this.#armWaiterTimer(waiter, now, neededMs);
      return;
    }
    if (!this.#queue.remove(waiter)) return;
    this.#settleWaiter(waiter);
    this.#rejected.deadline_unreachable++;
    waiter.reject(this.#unreachableError(waiter.deadline - now, neededMs, now - waiter.enqueuedAt));
  }

  [kDrop](waiter: Waiter, cause: 'queue_timeout' | 'client_closed'): void {
    if (!this.#queue.remove(waiter)) return;
    this.#settleWaiter(waiter);
    this.#rejected[cause]++;
    const waited = Date.now() - waiter.enqueuedAt;
    waiter.reject(cause === 'queue_timeout' ? timeoutError(this.name, waited) : closedError(this.name));
  }

  #onThrottled(signal: ThrottleSignal, now: number): void {
    this.#throttled++;
    this.#holdFor(signal.retryAfterMs ?? this.#aimd.defaultRetryAfterMs, now);
    if (!this.#aimd.enabled) return;
    this.#successStreak = 0;
    // An attempt sent before the last cut measured the load that cut answered; and the 429s
    // of one overload arrive together: one cut per window.
    if (signal.sentAt < this.#lastDecreaseAt) return;
    if (now - this.#lastDecreaseAt < this.#aimd.decreaseWindowMs) return;
    this.#lastDecreaseAt = now;
    this.#setLimit(Math.floor(this.#limit * this.#aimd.decreaseFactor));
  }

  #onRemaining(remaining: ProviderRemaining, now: number): void {
    if (remaining.requests === 0 && remaining.resetRequestsMs !== undefined) {
      this.#holdFor(Math.min(remaining.resetRequestsMs, MAX_QUOTA_HOLD_MS), now);
    }
    if (remaining.tokens === 0 && remaining.resetTokensMs !== undefined) {
      this.#holdFor(Math.min(remaining.resetTokensMs, MAX_QUOTA_HOLD_MS), now);
    }
  }

  #onSuccess(): void {
    if (!this.#aimd.enabled || this.#limit >= this.maxConcurrency) return;
    if (++this.#successStreak < this.#aimd.increaseEvery) return;
    this.#successStreak = 0;
    this.#setLimit(this.#limit + 1);
  }

  #setLimit(value: number): void {
    this.#limit = Math.min(this.maxConcurrency, Math.max(this.#aimd.min, value));
    this.#effectiveLimit = Math.floor(this.#limit);
  }

  #holdFor(ms: number, now: number): void {
    if (ms <= 0) return;
    this.#holdUntil = Math.max(this.#holdUntil, now + ms);
  }

  #pump(): void {
    while (this.#queue.size > 0 && this.#inFlight < this.#effectiveLimit) {
      const now = Date.now();
      if (this.#holdUntil !== 0) {
        if (now < this.#holdUntil) {
          this.#wakeAtHoldEnd(now);
          return;
        }
        this.#holdUntil = 0;
      }
      const waiter = this.#queue.shift()!;
      this.#settleWaiter(waiter);
      const neededMs = this.#neededMs(now);
      if (waiter.deadline - now < neededMs) {
        // Its turn came too late: the slot goes to the next waiter instead of a doomed call.
        this.#rejected.deadline_unreachable++;
        const waited = now - waiter.enqueuedAt;
        waiter.reject(this.#unreachableError(waiter.deadline - now, neededMs, waited));
        continue;
      }
      this.#inFlight++;
      this.#admitted++;
      this.#lastGrantAt = now;
      const waited = now - waiter.enqueuedAt;
      this.#waits.record(waited);
      waiter.resolve(new Permit(this, now, waited));
    }
  }

  /** Wake the waiter when only `neededMs` of its deadline is left (at the deadline when 0). */
  #armWaiterTimer(waiter: Waiter, now: number, neededMs: number): void {
    const delay = waiter.deadline - neededMs - now;
    if (delay > MAX_TIMER_MS) return;
    // Unref'd: a waiter only waits on a request in flight (its own I/O keeps the process
    // up) or on the hold timer, so the deadline alone must not keep a process alive.
    waiter.timer = setTimeout(onWaiterTimer, Math.max(1, delay), waiter);
    waiter.timer.unref?.();
  }

  /** What a request must have left of its deadline to be worth sending: the recent p90, or 0. */
  #neededMs(now: number): number {
    return this.#serviceTimes?.estimate(now) ?? 0;
  }

  /**
   * Only a successful call's duration says what the upstream needs. Failed calls are left out:
   * an early client disconnect would pull the estimate down, and a call cut at its deadline
   * would push it towards the deadline itself, until every request is refused and no call is
   * left to correct it. A 429 says nothing about service time.
   */
  #recordServiceTime(heldMs: number, outcome: ReleaseOutcome | undefined, now: number): void {
    if (this.#serviceTimes === undefined || outcome?.throttled || outcome?.failed) return;
    this.#serviceTimes.record(heldMs, now);
  }

  /**
   * An estimate that refuses every request would never be corrected (only admitted calls give
   * samples): when no permit was granted for a while, the next request with a free slot goes
   * upstream anyway, so at most one call per interval is risked on a stale estimate.
   */
  #probeDue(now: number): boolean {
    const neededMs = this.#neededMs(now);
    return (
      neededMs > 0 &&
      this.#queue.size === 0 &&
      this.#inFlight < this.#effectiveLimit &&
      now - this.#lastGrantAt >= Math.max(PROBE_INTERVAL_MS, neededMs)
    );
  }

  /**
   * Expected wait of a newcomer: any provider hold, then the waiters served before it
   * (plus itself) passing through the slots at the recent average service time.
   */
  #expectedWaitMs(level: number, callerId: string, now: number): number {
    const holdMs = Math.max(0, this.#holdUntil - now);
    const ahead = this.#queue.servedBefore(level, callerId);
    return holdMs + ((ahead + 1) / this.#effectiveLimit) * this.#serviceMsAvg;
  }

  #unreachableError(leftMs: number, neededMs: number, waitedMs: number): SluiceError {
    const after = waitedMs > 0 ? ` after waiting ${waitedMs} ms in the queue` : '';
    return new SluiceError(
      'deadline_unreachable',
      `request had ${Math.max(0, Math.round(leftMs))} ms of its deadline left${after}, less than the ` +
        `${Math.round(neededMs)} ms (${this.#quantileLabel}) upstream "${this.name}" recently needed; ` +
        'it was not sent upstream',
      {
        details: {
          upstream: this.name,
          reason: 'deadline_unreachable',
          remaining_ms: Math.max(0, Math.round(leftMs)),
          needed_ms: Math.round(neededMs),
        },
      },
    );
  }

  #tooLongWaitError(leftMs: number, neededMs: number, waitMs: number): SluiceError {
    // How much later the deadline would have had to be: a fresh request after that long finds
    // a queue this much shorter, if the load stays as it is.
    const shortMs = waitMs + neededMs - leftMs;
    const holdMs = Math.max(0, this.#holdUntil - Date.now());
    const seconds = Math.min(300, Math.max(1, Math.ceil(Math.max(shortMs, holdMs) / 1000)));
    return new SluiceError(
      'queue_full',
      `queue for upstream "${this.name}" holds about ${Math.round(waitMs)} ms of waiting; with the ` +
        `${Math.round(neededMs)} ms (${this.#quantileLabel}) the upstream recently needed, the ` +
        `${Math.round(leftMs)} ms left of this request's deadline are not enough; retry later`,
      {
        retryAfterSeconds: seconds,
        headers: { 'retry-after': String(seconds) },
        details: {
          upstream: this.name,
          reason: 'wait_exceeds_deadline',
          remaining_ms: Math.round(leftMs),
          expected_wait_ms: Math.round(waitMs),
          needed_ms: Math.round(neededMs),
        },
      },
    );
  }

  #wakeAtHoldEnd(now: number): void {
    if (this.#holdTimer !== undefined) {
      if (this.#holdTimerAt === this.#holdUntil) return;
      clearTimeout(this.#holdTimer);
    }
    this.#holdTimerAt = this.#holdUntil;
    this.#holdTimer = setTimeout(() => {
      this.#holdTimer = undefined;
      this.#pump();
    }, this.#holdUntil - now);
  }

  /** The waiter left the queue: stop its deadline timer and abort listener. */
  #settleWaiter(waiter: Waiter): void {
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.signal?.removeEventListener('abort', waiter);
  }

  #refuse(cause: RejectCause, error: SluiceError): Promise<never> {
    this.#rejected[cause]++;
    return Promise.reject(error);
  }

  #fullError(displaced: boolean): SluiceError {
    const seconds = this.suggestedRetryAfterSeconds();
    const message = displaced
      ? `request was shed from the full queue of upstream "${this.name}" to make room for a higher-priority or less-served caller; retry later`
      : `queue for upstream "${this.name}" is full (${this.maxQueue} waiting); retry later`;
    return new SluiceError('queue_full', message, {
      retryAfterSeconds: seconds,
      headers: { 'retry-after': String(seconds) },
      details: { upstream: this.name, reason: 'queue_full' },
    });
  }
}

function timeoutError(upstream: string, waitedMs: number): SluiceError {
  return new SluiceError(
    'queue_timeout',
    `request reached its deadline after waiting ${waitedMs} ms in the queue for upstream "${upstream}"`,
    { details: { upstream, reason: 'queue_timeout' } },
  );
}

function closedError(upstream: string): SluiceError {
  return new SluiceError(
    'client_closed',
    `client closed the request while it waited for upstream "${upstream}"`,
    {
      details: { upstream, reason: 'client_closed' },
    },
  );
}
