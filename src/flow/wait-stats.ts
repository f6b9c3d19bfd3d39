/**
 * Percentiles of recent queue waits. A fixed ring of the last N samples: recording is one
 * array write (hot path), the sort happens only when someone reads the stats.
 */
export class RecentSamples {
  readonly #ring: Float64Array;
  #next = 0;
  #count = 0;

  constructor(capacity = 1024) {
    this.#ring = new Float64Array(capacity);
  }

  record(value: number): void {
    this.#ring[this.#next] = value;
    this.#next = (this.#next + 1) % this.#ring.length;
    if (this.#count < this.#ring.length) this.#count++;
  }

  /** Nearest-rank percentile (0..100) over the recent samples; 0 when there are none. */
  percentiles(...ps: number[]): number[] {
    if (this.#count === 0) return ps.map(() => 0);
    const sorted = this.#ring.slice(0, this.#count).sort();
    return ps.map(
      (p) => sorted[Math.min(this.#count - 1, Math.max(0, Math.ceil((p / 100) * this.#count) - 1))],
    );
  }
}
