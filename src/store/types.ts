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

/**
 * Short exclusive leases shared by instances (Redis `SET NX PX`): one instance's single-flight
 * leader holds the lease of a request while it calls upstream. Only a shared backend has them.
 */
export interface LeaseStore {
  /** Take the lease for `owner` unless someone holds it (or its marker is still there). */
  acquire(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Push the expiry `ttlMs` from now, only while `owner` holds it. False when it is lost. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Give it up if `owner` holds it; `marker` is left in its place for a while when given. */
  release(key: string, owner: string, marker?: { value: string; ttlMs: number }): Promise<void>;
  /** The holder's token (or a marker), undefined when the key is free. */
  holder(key: string): Promise<string | undefined>;
}

/** What the shared circuit of one upstream says to an instance about to send an attempt. */
export type SharedCircuitView =
  | { state: 'closed' }
  | { state: 'open'; retryInMs: number; openedAt: number }
  /** Half-open, and the caller now holds the probe. */
  | { state: 'probe' }
  /** Half-open, another instance's probe is running. */
  | { state: 'probe_busy'; retryInMs: number };

/**
 * Circuit-breaker state of one upstream shared by instances, so when one instance opens the
 * circuit the others skip that upstream too, and one instance in all probes it when half-open.
 */
export interface SharedCircuitStore {
  /** One round trip: the shared state; when half-open, try to take the probe for `owner`. */
  acquire(owner: string, probeTtlMs: number): Promise<SharedCircuitView>;
  /** Open it for `cooldownMs`; half-open after that for at most `holdMs`. A failed probe's owner frees the probe. */
  open(openedAt: number, cooldownMs: number, holdMs: number, probeOwner?: string): Promise<void>;
  /** The probe of `owner` answered: close the circuit (success) or only free the probe (neutral). */
  settleProbe(owner: string, success: boolean): Promise<void>;
}
