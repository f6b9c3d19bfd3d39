/**
 * Labelled counters and histograms that cost a map lookup per update. prom-client hashes the
 * label object on every `inc` / `observe` (validating the names, sorting, joining), a few
 * hundred nanoseconds each, about ten times per request. Here the caller names a series with a
 * string key it builds from values it already has; the series' labels object is made once, on
 * the first update. prom-client still renders the text: counters hand their increments over when
 * scraped (its `collect` hook), histograms answer the registry's `get()` themselves.
 */
import { Counter, type Metric, type Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string>;

/** A prom-client counter fed in batches: increments gather per series until the next scrape. */
export class BatchedCounter<L extends string> {
  readonly #pending = new Map<string, { labels: Labels<L>; value: number }>();

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; registers: Registry[] }) {
    const pending = this.#pending;
    new Counter<L>({
      name: opts.name,
      help: opts.help,
      labelNames: opts.labelNames,
      registers: opts.registers,
      collect() {
        for (const series of pending.values()) {
          if (series.value === 0) continue;
          this.inc(series.labels, series.value);
          series.value = 0;
        }
      },
    });
  }

  /** `key` stands for `labels()` (same values, any unambiguous join); `labels` runs on a new key only. */
  inc(key: string, labels: () => Labels<L>, value = 1): void {
    let series = this.#pending.get(key);
    if (!series) {
      series = { labels: labels(), value: 0 };
      this.#pending.set(key, series);
    }
    series.value += value;
  }
}

interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket (not cumulative); the last slot is above the largest bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with prom-client's text output (`_bucket{le}`, `_sum`, `_count`), kept by us. */
export class FastHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries<L>>();

  constructor(opts: {
    name: string;
    help: string;
    buckets: readonly number[];
    registers: Registry[];
  }) {
    this.name = opts.name;
    this.help = opts.help;
    this.#bounds = opts.buckets;
    // The registry renders any object with prom-client's `get()` shape; its type names its own classes.
    for (const registry of opts.registers) registry.registerMetric(this as unknown as Metric);
  }

  observe(key: string, labels: () => Labels<L>, value: number): void {
    if (!Number.isFinite(value)) return;
    let series = this.#series.get(key);
    if (!series) {
      series = { labels: labels(), counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  /** What prom-client's registry reads to render the metric. */
  async get() {
    const metricName = (suffix: string) => `${this.name}_${suffix}`;
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const series of this.#series.values()) {
      let cumulative = 0;
      for (const [i, bound] of this.#bounds.entries()) {
        cumulative += series.counts[i];
        values.push({
          labels: { le: bound, ...series.labels },
          value: cumulative,
          metricName: metricName('bucket'),
        });
      }
      values.push(
        { labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: metricName('bucket') },
        { labels: series.labels, value: series.sum, metricName: metricName('sum') },
        { labels: series.labels, value: series.count, metricName: metricName('count') },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#series.clear();
  }
}
