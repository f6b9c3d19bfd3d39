/**
 * How long an upstream recently needed to serve a request (permit granted → reply complete),
 * as a quantile over a ring of the last `window` samples no older than `maxAgeMs`. Recording
 * is two array writes; the quantile is recomputed (a sort of at most `window` numbers) only
 * when a sample was added since the last read, or a second has passed so old ones can age out.
 */
export interface ServiceTimeOptions {
  /** 0 < quantile < 1, e.g. 0.9 for the p90. */
  quantile: number;
  /** Samples kept. */
  window: number;
  /** Below this many fresh samples the estimate is unknown (undefined). */
  minSamples: number;
  /** Older samples no longer count: an upstream that was slow once is not refused forever. */
  maxAgeMs: number;
}

const RECHECK_AGE_EVERY_MS = 1000;

export class RecentServiceTimes {
  readonly #options: ServiceTimeOptions;
  readonly #durations: Float64Array;
  readonly #recordedAt: Float64Array;
  readonly #scratch: Float64Array;
  #next = 0;
  #count = 0;
  #dirty = false;
  #computedAt = Number.NEGATIVE_INFINITY;
  #estimate: number | undefined = undefined;

  constructor(options: ServiceTimeOptions) {
    const { quantile, window, minSamples, maxAgeMs } = options;
    if (!(quantile > 0 && quantile < 1)) throw new TypeError('service time quantile must be in (0, 1)');
    if (!Number.isInteger(window) || window < 1) throw new TypeError('service time window must be >= 1');
    if (!Number.isInteger(minSamples) || minSamples < 1 || minSamples > window) {
      throw new TypeError('service time minSamples must be between 1 and the window');
    }
    if (!(maxAgeMs > 0)) throw new TypeError('service time maxAgeMs must be > 0');
    this.#options = options;
    this.#durations = new Float64Array(window);
    this.#recordedAt = new Float64Array(window);
    this.#scratch = new Float64Array(window);
  }

  record(durationMs: number, now: number): void {
    this.#durations[this.#next] = durationMs;
    this.#recordedAt[this.#next] = now;
    this.#next = (this.#next + 1) % this.#durations.length;
    if (this.#count < this.#durations.length) this.#count++;
    this.#dirty = true;
  }

  /** The configured quantile of fresh samples in ms, or undefined with too few of them. */
  estimate(now: number): number | undefined {
    if (this.#dirty || now - this.#computedAt >= RECHECK_AGE_EVERY_MS) this.#recompute(now);
    return this.#estimate;
  }

  #recompute(now: number): void {
    this.#dirty = false;
    this.#computedAt = now;
    const oldest = now - this.#options.maxAgeMs;
    let fresh = 0;
    for (let i = 0; i < this.#count; i++) {
      if (this.#recordedAt[i] >= oldest) this.#scratch[fresh++] = this.#durations[i];
    }
    if (fresh < this.#options.minSamples) {
      this.#estimate = undefined;
      return;
    }
    const sorted = this.#scratch.subarray(0, fresh).sort();
    this.#estimate = sorted[Math.min(fresh - 1, Math.ceil(this.#options.quantile * fresh) - 1)];
  }
}
