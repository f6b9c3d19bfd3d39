/**
 * Storage sits behind these narrow interfaces so every feature runs on one machine
 * (memory + embedded SQLite) and scales out on Redis with the same code above it.
 * A backend is picked once at boot (see `store/index.ts`); nothing else imports a backend.
 */
import type { LedgerRollupGroup, LedgerRollupQuery } from './ledger-rollup.js';
import type { StoredRollupFilter, StoredRollupRow } from './ledger-stored-rollup.js';

export type { LedgerRollupGroup, LedgerRollupQuery, LedgerSumSpec } from './ledger-rollup.js';
export type { RollupGrain, StoredRollupFilter, StoredRollupRow } from './ledger-stored-rollup.js';

/** Key-value bytes with a TTL in seconds. Used by the exact cache, summaries, embeddings. */
export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  /** `get` plus the expiry (epoch ms; 0 = never), for sliding renewal and tier promotion. */
  getEntry(key: string): Promise<KvEntry | undefined>;
  /** `ttlSeconds` <= 0 means no expiry; fractions are allowed (expiry has millisecond resolution). */
  set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void>;
  /** Sliding renewal: push the expiry `ttlSeconds` from now. Returns false if the key is gone. */
  touch(key: string, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  /** Delete every key starting with `prefix`; returns how many went. */
  deletePrefix(prefix: string): Promise<number>;
  /** Live keys starting with `prefix`, in no particular order (admin listing, filtered purges). */
  keys(prefix: string): AsyncIterable<string>;
  close(): Promise<void>;
}

export interface KvEntry {
  value: Uint8Array;
  /** Epoch ms when the entry expires; 0 = never. */
  expiresAt: number;
}

/**
 * Bounds of one KV namespace. When either is set the store evicts the least recently used
 * entries (a read or touch counts as use) so that both hold after every write. Bytes count
 * values only. A value larger than `maxBytes` is not stored at all.
 */
export interface KvLimits {
  maxEntries?: number;
  maxBytes?: number;
}

/** One counter taking part in an all-or-nothing reservation. */
export interface CounterAdd {
  key: string;
  amount: number;
  /** The add is refused if the counter would exceed this. `Infinity` = no limit. */
  limit: number;
  /** Expiry of the counter in seconds from its first write (fixed window); <= 0 = none. */
  ttlSeconds: number;
}

export type TryAddResult = { ok: true; values: number[] } | { ok: false; index: number; current: number };

/**
 * Atomic numeric counters: budgets (reserve → settle) and rate limits.
 * `tryAdd` is atomic across all keys: either every counter is incremented or none is.
 * That is what makes budgets impossible to overshoot under concurrency, also on Redis (Lua).
 */
export interface CounterStore {
  tryAdd(adds: readonly CounterAdd[]): Promise<TryAddResult>;
  /** Unconditional add (may be negative, e.g. to settle or release a reservation). */
  add(key: string, amount: number, ttlSeconds: number): Promise<number>;
  get(keys: readonly string[]): Promise<number[]>;
  close(): Promise<void>;
}

/** Append-only rows with a time, queried by time range and equality filters. */
export interface LedgerStore<Row extends { ts: number }> {
  append(row: Row): Promise<void>;
  /**
   * Rows with `since <= ts < until` (until defaults to +∞), oldest first. `where` keeps rows whose
   * field equals the given text: string fields compare as they are, numeric fields by their
   * decimal text; meant for identifiers (user, team, model), not for floats.
   */
  query(filter: {
    since: number;
    until?: number;
    where?: Partial<Record<keyof Row, string>>;
  }): Promise<Row[]>;
  /**
   * Grouped sums and quantiles over rows in a time range, one result per query, all from one
   * scan of the union of their ranges (see ledger-rollup.ts for the rules).
   */
  rollup(queries: readonly LedgerRollupQuery[]): Promise<LedgerRollupGroup[][]>;
  /**
   * Per-minute and per-day sums kept as rows are written (`ledger-stored-rollup.ts`): read in
   * time proportional to the buckets, not the rows. Only backends that keep them (PostgreSQL).
   */
  storedRollups?(filter: StoredRollupFilter): Promise<StoredRollupRow[]>;
  close(): Promise<void>;
}
