import { checkLimits, expiresAtFor, isLive } from './expiry.js';
import { ledgerRowMatches } from './ledger-match.js';
import {
  type LedgerRollupGroup,
  type LedgerRollupQuery,
  MultiRollup,
  nextTurn,
  ROLLUP_PAGE,
} from './ledger-rollup.js';
import type {
  CounterAdd,
  CounterStore,
  KvEntry,
  KvLimits,
  KvStore,
  LedgerStore,
  TryAddResult,
} from './types.js';

export interface MemoryKvOptions extends KvLimits {
  /** How often expired entries are dropped in bulk (they are also dropped when read). 0 = never. */
  sweepIntervalMs?: number;
  now?: () => number;
}

/**
 * In-process KV: a Map kept in least-recently-used order (a read re-inserts the key at the
 * end), so eviction takes the first keys. Values are kept as given, not copied: callers must
 * not mutate a value after `set` or after reading it.
 */
export class MemoryKvStore implements KvStore {
  readonly #entries = new Map<string, KvEntry>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #limited: boolean;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout | undefined;
  #bytes = 0;

  constructor(options: MemoryKvOptions = {}) {
    const { maxEntries, maxBytes } = checkLimits(options);
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
    this.#limited = Number.isFinite(maxEntries) || Number.isFinite(maxBytes);
    this.#now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.#sweeper = setInterval(() => this.sweep(), every);
      this.#sweeper.unref();
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#use(key)?.value;
  }

  async getEntry(key: string): Promise<KvEntry | undefined> {
    return this.#use(key);
  }

  async set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    this.setNow(key, value, expiresAtFor(ttlSeconds, this.#now()));
  }

  /** Synchronous write with an absolute expiry (the tiered store promotes with the back's expiry). */
  setNow(key: string, value: Uint8Array, expiresAt: number): void {
    const old = this.#entries.get(key);
    if (old) this.#drop(key, old);
    if (value.byteLength > this.#maxBytes) return;
    this.#entries.set(key, { value, expiresAt });
    this.#bytes += value.byteLength;
    if (this.#limited) this.#evict();
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const entry = this.#use(key);
    if (!entry) return false;
    entry.expiresAt = expiresAtFor(ttlSeconds, this.#now());
    return true;
  }

  async delete(key: string): Promise<boolean> {
    return this.deleteNow(key);
  }

  /** Synchronous delete (the tiered store drops keys its back evicted). */
  deleteNow(key: string): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#drop(key, entry);
    return isLive(entry.expiresAt, this.#now());
  }

  async deletePrefix(prefix: string): Promise<number> {
    const now = this.#now();
    let deleted = 0;
    for (const [key, entry] of this.#entries) {
      if (!key.startsWith(prefix)) continue;
      this.#drop(key, entry);
      if (isLive(entry.expiresAt, now)) deleted++;
    }
    return deleted;
  }

  async *keys(prefix: string): AsyncIterable<string> {
    const now = this.#now();
    const matching: string[] = [];
    for (const [key, entry] of this.#entries) {
      if (key.startsWith(prefix) && isLive(entry.expiresAt, now)) matching.push(key);
    }
    yield* matching;
  }

  /** Drop every expired entry now. */
  sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (!isLive(entry.expiresAt, now)) this.#drop(key, entry);
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Read a live entry and mark it most recently used. */
  #use(key: string): KvEntry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (!isLive(entry.expiresAt, this.#now())) {
      this.#drop(key, entry);
      return undefined;
    }
    if (this.#limited) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #drop(key: string, entry: KvEntry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.value.byteLength;
  }

  #evict(): void {
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.entries().next();
      if (oldest.done) return;
      this.#drop(oldest.value[0], oldest.value[1]);
    }
  }
}

interface Counter {
  value: number;
  expiresAt: number;
}

/** In-process counters: single-threaded JS makes `tryAdd` atomic without locks. */
export class MemoryCounterStore implements CounterStore {
  readonly #counters = new Map<string, Counter>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async tryAdd(adds: readonly CounterAdd[]): Promise<TryAddResult> {
    const now = this.#now();
    // Pending totals per key, so that one key listed twice is checked against both amounts.
    const pending = new Map<string, number>();
    for (let i = 0; i < adds.length; i++) {
      const add = adds[i];
      const current = pending.get(add.key) ?? this.#current(add.key, now);
      if (current + add.amount > add.limit) return { ok: false, index: i, current };
      pending.set(add.key, current + add.amount);
    }
    return { ok: true, values: adds.map((add) => this.#add(add.key, add.amount, add.ttlSeconds, now)) };
  }

  async add(key: string, amount: number, ttlSeconds: number): Promise<number> {
    return this.#add(key, amount, ttlSeconds, this.#now());
  }

  async get(keys: readonly string[]): Promise<number[]> {
    const now = this.#now();
    return keys.map((key) => this.#current(key, now));
  }

  async close(): Promise<void> {
    this.#counters.clear();
  }

  #current(key: string, now: number): number {
    const counter = this.#counters.get(key);
    return counter && isLive(counter.expiresAt, now) ? counter.value : 0;
  }

  #add(key: string, amount: number, ttlSeconds: number, now: number): number {
    const counter = this.#counters.get(key);
    if (counter && isLive(counter.expiresAt, now)) {
      counter.value += amount;
      return counter.value;
    }
    this.#counters.set(key, { value: amount, expiresAt: expiresAtFor(ttlSeconds, now) });
    return amount;
  }
}

/** In-process ledger: rows kept sorted by `ts` (appends are nearly always in order). */
export class MemoryLedgerStore<Row extends { ts: number }> implements LedgerStore<Row> {
  readonly #rows: Row[] = [];

  async append(row: Row): Promise<void> {
    const rows = this.#rows;
    const copy = { ...row };
    if (rows.length === 0 || rows[rows.length - 1].ts <= row.ts) rows.push(copy);
    else rows.splice(bisect(rows, row.ts, true), 0, copy);
  }

  async query(filter: {
    since: number;
    until?: number;
    where?: Partial<Record<keyof Row, string>>;
  }): Promise<Row[]> {
    const rows = this.#rows;
    const until = filter.until ?? Number.POSITIVE_INFINITY;
    const out: Row[] = [];
    for (let i = bisect(rows, filter.since, false); i < rows.length && rows[i].ts < until; i++) {
      const row = rows[i];
      if (!filter.where || ledgerRowMatches(row, filter.where)) out.push({ ...row });
    }
    return out;
  }

  async rollup(queries: readonly LedgerRollupQuery[]): Promise<LedgerRollupGroup[][]> {
    const rollup = new MultiRollup(queries);
    const rows = this.#rows;
    let i = bisect(rows, rollup.since, false);
    for (let page = 0; i < rows.length && rows[i].ts < rollup.until; i++) {
      rollup.add(rows[i] as Row & Record<string, unknown>);
      if (++page === ROLLUP_PAGE) {
        page = 0;
        // Rows may be inserted meanwhile: find our place again by time.
        const at = rows[i].ts;
        await nextTurn();
        i = bisect(rows, at, true) - 1;
      }
    }
    return rollup.result();
  }

  async close(): Promise<void> {}
}

/** Binary search: index of the first row with `ts >= at` (`ts > at` when `after`). */
function bisect(rows: readonly { ts: number }[], at: number, after: boolean): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].ts < at || (after && rows[mid].ts === at)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
