/**
 * The batch runner's own concurrency under backpressure (AIMD, as TCP does with its window):
 * a refusal that says "too busy" (429/503) halves the calls allowed in flight, a run of
 * successes adds one back, never above the ceiling the user asked for nor below one. A
 * refusal's Retry-After also pauses every new start until it has passed.
 *
 * A halving counts once per round: calls started before the last halving were sent under
 * the old limit, so their refusals say nothing new (eight refusals of one burst of eight
 * calls halve once, not down to one).
 */

export interface AdaptiveConcurrencyOptions {
  /** The limit to start at and never exceed (the user's --concurrency). */
  ceiling: number;
  /** Successes in a row that add one to the limit. */
  increaseEvery?: number;
  /** The pause used when a refusal names no Retry-After. */
  defaultRetryAfterMs?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

export class AdaptiveConcurrency {
  readonly ceiling: number;
  readonly #increaseEvery: number;
  readonly #defaultRetryAfterMs: number;
  readonly #now: () => number;
  #limit: number;
  #successesInRow = 0;
  /** Bumped at each halving; a call carries the round it started in. */
  #round = 0;
  #pausedUntil = 0;
  #decreases = 0;

  constructor(options: AdaptiveConcurrencyOptions) {
    const { ceiling } = options;
    if (!Number.isInteger(ceiling) || ceiling < 1) throw new TypeError('concurrency must be an integer >= 1');
    this.ceiling = ceiling;
    this.#limit = ceiling;
    this.#increaseEvery = options.increaseEvery ?? 10;
    this.#defaultRetryAfterMs = options.defaultRetryAfterMs ?? 1000;
    this.#now = options.now ?? Date.now;
    if (!(this.#increaseEvery >= 1)) throw new TypeError('increaseEvery must be >= 1');
  }

  /** Calls allowed in flight now. */
  get limit(): number {
    return this.#limit;
  }

  /** How many times backpressure lowered the limit. */
  get decreases(): number {
    return this.#decreases;
  }

  /** The round a call starting now belongs to (pass it back to `backpressure`). */
  get round(): number {
    return this.#round;
  }

  /** Ms until new calls may start (0 = now). */
  pauseRemainingMs(): number {
    return Math.max(0, this.#pausedUntil - this.#now());
  }

  success(): void {
    if (++this.#successesInRow < this.#increaseEvery) return;
    this.#successesInRow = 0;
    this.#limit = Math.min(this.ceiling, this.#limit + 1);
  }

  /** A call started in `round` was refused as "too busy"; `retryAfterMs` is what the refusal asked. */
  backpressure(round: number, retryAfterMs: number | undefined): void {
    this.#successesInRow = 0;
    const wait = retryAfterMs ?? this.#defaultRetryAfterMs;
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + wait);
    if (round !== this.#round) return;
    this.#round++;
    this.#decreases++;
    this.#limit = Math.max(1, Math.floor(this.#limit / 2));
  }
}
