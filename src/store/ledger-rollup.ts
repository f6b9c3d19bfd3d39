/**
 * Grouped sums over a ledger's rows for reports and charts. Every backend scans the time range
 * in pages (the event loop gets a turn between pages) and feeds each row once to every query
 * asked together, so a dashboard refresh is one bounded range scan, not one per chart. (SQL
 * `json_extract` over the JSON rows was measured no faster than `JSON.parse` here, ~9 µs a row
 * either way, and would block the loop for the whole query.) The rules, same on every backend:
 *
 * - a row falls in bucket `floor((ts - since) / bucketMs)`;
 * - group keys are a field's text (numbers by their decimal text), `null` when absent or another type;
 * - a sum adds `round(value × scale)` of numeric fields (other values add 0), in integers, so money
 *   summed at scale 1e9 (nano-dollars) is exact;
 * - quantiles are nearest-rank over the numeric values of one field: the value at rank
 *   `max(1, ceil(p × n))` of the sorted values.
 */
import { ledgerRowMatches } from './ledger-match.js';

export interface LedgerSumSpec {
  field: string;
  /** Values are multiplied by this and rounded before adding (1e9 for dollars → nano-dollars). */
  scale?: number;
}

export interface LedgerRollupQuery {
  since: number;
  until: number;
  bucketMs: number;
  /** Fields whose values split the groups within a bucket. */
  by: readonly string[];
  sums: readonly LedgerSumSpec[];
  /** Equality filters, as in `LedgerStore.query`. */
  where?: Readonly<Record<string, string>>;
  /** Nearest-rank quantiles of one numeric field per group (e.g. latency p50/p90/p99). */
  quantiles?: { field: string; ps: readonly number[] };
}

export interface LedgerRollupGroup {
  /** Index of the bucket from `since` (0-based). */
  bucket: number;
  /** Values of the `by` fields, in their order. */
  keys: Array<string | null>;
  count: number;
  /** Integer sums, in the order of `sums` (divide by the scale to get the value back). */
  sums: number[];
  /** One value per asked quantile; empty when no row of the group had a numeric value. */
  quantiles?: number[];
}

/** Most groups a rollup may return: a guard against a bucket size far too small for its range. */
export const MAX_ROLLUP_BUCKETS = 100_000;

export function checkRollupQuery(q: LedgerRollupQuery): void {
  if (!(q.bucketMs > 0) || !Number.isFinite(q.bucketMs)) throw new RangeError('bucketMs must be positive');
  if (!(q.until > q.since)) throw new RangeError('until must be after since');
  if ((q.until - q.since) / q.bucketMs > MAX_ROLLUP_BUCKETS)
    throw new RangeError(`at most ${MAX_ROLLUP_BUCKETS} buckets per rollup`);
  for (const p of q.quantiles?.ps ?? [])
    if (!(p > 0 && p <= 1)) throw new RangeError(`quantile ${p} not in (0, 1]`);
}

/** The nearest rank of quantile `p` among `n` values (1-based). Same arithmetic in SQL (sqlite.ts). */
export function nearestRank(p: number, n: number): number {
  return Math.max(1, Math.ceil(p * n - 1e-9));
}

export function groupKeyText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

interface Accumulator {
  group: LedgerRollupGroup;
  values: number[];
}

/** Incremental rollup over rows fed in any order. */
export class RollupBuilder {
  readonly #q: LedgerRollupQuery;
  readonly #groups = new Map<string, Accumulator>();

  constructor(q: LedgerRollupQuery) {
    checkRollupQuery(q);
    this.#q = q;
  }

  add(row: Record<string, unknown> & { ts: number }): void {
    const q = this.#q;
    if (row.ts < q.since || row.ts >= q.until) return;
    if (q.where && !ledgerRowMatches(row, q.where)) return;
    const bucket = Math.floor((row.ts - q.since) / q.bucketMs);
    const keys = q.by.map((field) => groupKeyText(row[field]));
    const id = JSON.stringify([bucket, keys]);
    let acc = this.#groups.get(id);
    if (!acc) {
      acc = { group: { bucket, keys, count: 0, sums: q.sums.map(() => 0) }, values: [] };
      this.#groups.set(id, acc);
    }
    acc.group.count++;
    for (let i = 0; i < q.sums.length; i++) {
      const value = row[q.sums[i].field];
      if (typeof value === 'number' && Number.isFinite(value))
        acc.group.sums[i] += roundHalfAway(value * (q.sums[i].scale ?? 1));
    }
    if (q.quantiles) {
      const value = row[q.quantiles.field];
      if (typeof value === 'number' && Number.isFinite(value)) acc.values.push(value);
    }
  }

  result(): LedgerRollupGroup[] {
    const ps = this.#q.quantiles?.ps;
    const out: LedgerRollupGroup[] = [];
    for (const { group, values } of this.#groups.values()) {
      if (ps) {
        values.sort((a, b) => a - b);
        group.quantiles = values.length === 0 ? [] : ps.map((p) => values[nearestRank(p, values.length) - 1]);
      }
      out.push(group);
    }
    return out.sort((a, b) => a.bucket - b.bucket || compareKeys(a.keys, b.keys));
  }
}

/** As SQLite's ROUND: halves go away from zero (Math.round takes -2.5 to -2). */
function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

export function compareKeys(a: ReadonlyArray<string | null>, b: ReadonlyArray<string | null>): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Several rollups fed by one scan of the union of their ranges. */
export class MultiRollup {
  readonly since: number;
  readonly until: number;
  readonly #builders: RollupBuilder[];

  constructor(queries: readonly LedgerRollupQuery[]) {
    this.#builders = queries.map((q) => new RollupBuilder(q));
    this.since = Math.min(...queries.map((q) => q.since));
    this.until = Math.max(...queries.map((q) => q.until));
  }

  add(row: Record<string, unknown> & { ts: number }): void {
    for (const builder of this.#builders) builder.add(row);
  }

  result(): LedgerRollupGroup[][] {
    return this.#builders.map((b) => b.result());
  }
}

/** Rows read per page when scanning a range for a rollup. */
export const ROLLUP_PAGE = 2000;

/** Let other work run between pages of a long scan. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
