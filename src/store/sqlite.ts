import Database, { type Statement } from 'better-sqlite3';
import { checkLimits, expiresAtFor, isLive } from './expiry.js';
import { checkLedgerField } from './ledger-match.js';
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

/**
 * Embedded storage in one SQLite file (better-sqlite3: synchronous, so every call below is a
 * few microseconds of blocking work and never an event-loop stall of its own). WAL lets readers
 * run beside the writer; `synchronous = NORMAL` trades the last transactions before a power
 * loss for fewer fsyncs, which is right for caches and counters that can be rebuilt.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  ns TEXT NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER NOT NULL,
  UNIQUE (ns, key)
);
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at > 0;
CREATE INDEX IF NOT EXISTS kv_used ON kv (ns, used_at);
CREATE TABLE IF NOT EXISTS counters (
  key TEXT PRIMARY KEY,
  value REAL NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expiry ON counters (expires_at) WHERE expires_at > 0;
CREATE TABLE IF NOT EXISTS ledger (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  ts REAL NOT NULL,
  row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_ts ON ledger (name, ts);
`;

/** Under traffic, ledger rows are committed at most this often (see SqliteLedgerStore.append). */
const LEDGER_COMMIT_INTERVAL_MS = 10;
/** Under traffic, grouped KV writes are committed at most this often (see SqliteKvStore.set). */
const KV_COMMIT_INTERVAL_MS = 10;
const LIVE = '(expires_at = 0 OR expires_at > @now)';
/** Any key starting with the prefix sorts below prefix + U+10FFFF (the largest code point). */
const PREFIX_END = '\u{10FFFF}';
const SWEEP_BATCH = 1000;
/** A full store is evicted down to 90 % of a limit (exactly to it for limits under 10). */
const withSlack = (limit: number): number =>
  Number.isFinite(limit) ? limit - Math.floor(limit / 10) : limit;

export interface SqliteOptions {
  /** How often expired KV rows and counters are deleted in bulk (they are also dropped when read). 0 = never. */
  sweepIntervalMs?: number;
  now?: () => number;
  /** Under traffic, ledger rows are committed at most this often (see SqliteLedgerStore.append). Default 10. */
  ledgerCommitIntervalMs?: number;
  /** Under traffic, writes to a namespace with grouped commits are committed at most this often. Default 10. */
  kvCommitIntervalMs?: number;
}

/**
 * Run `commit` on the next event-loop turn, or `intervalMs` after `lastCommit` (a
 * performance.now() time) if that is later. Returns what cancels it.
 */
function scheduleCommit(lastCommit: number, intervalMs: number, commit: () => void): () => void {
  const wait = lastCommit + intervalMs - performance.now();
  if (wait > 0) {
    const timer = setTimeout(commit, wait);
    return () => clearTimeout(timer);
  }
  const immediate = setImmediate(commit);
  return () => clearImmediate(immediate);
}

interface Row {
  value: Buffer;
  expiresAt: number;
}

/**
 * Rows per ledger INSERT statement, largest first: a batch is written in as few statements as
 * its size allows (one statement of 64 rows costs ~25 % less per row than 64 statements).
 */
const LEDGER_INSERT_SIZES = [64, 16, 4, 1];

function prepareStatements(db: Database.Database) {
  return {
    kvGet: db.prepare<{ ns: string; key: string }, Row>(
      'SELECT value, expires_at AS expiresAt FROM kv WHERE ns = @ns AND key = @key',
    ),
    kvLiveSize: db.prepare<{ ns: string; key: string; now: number }, { n: number }>(
      `SELECT length(value) AS n FROM kv WHERE ns = @ns AND key = @key AND ${LIVE}`,
    ),
    kvUpsert: db.prepare<{ ns: string; key: string; value: Buffer; expiresAt: number; usedAt: number }>(
      `INSERT INTO kv (ns, key, value, expires_at, used_at) VALUES (@ns, @key, @value, @expiresAt, @usedAt)
       ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, used_at = excluded.used_at`,
    ),
    kvTouch: db.prepare<{ ns: string; key: string; now: number; expiresAt: number; usedAt: number }>(
      `UPDATE kv SET expires_at = @expiresAt, used_at = @usedAt WHERE ns = @ns AND key = @key AND ${LIVE}`,
    ),
    kvMarkUsed: db.prepare<{ ns: string; key: string; usedAt: number }>(
      'UPDATE kv SET used_at = @usedAt WHERE ns = @ns AND key = @key',
    ),
    kvDelete: db.prepare<{ ns: string; key: string }, { expiresAt: number }>(
      'DELETE FROM kv WHERE ns = @ns AND key = @key RETURNING expires_at AS expiresAt',
    ),
    kvDeleteRange: db.prepare<{ ns: string; from: string; to: string }, { expiresAt: number }>(
      'DELETE FROM kv WHERE ns = @ns AND key >= @from AND key < @to RETURNING expires_at AS expiresAt',
    ),
    kvKeysRange: db.prepare<{ ns: string; from: string; to: string; now: number }, { key: string }>(
      `SELECT key FROM kv WHERE ns = @ns AND key >= @from AND key < @to AND ${LIVE}`,
    ),
    kvTotals: db.prepare<{ ns: string; now: number }, { n: number; b: number }>(
      `SELECT count(*) AS n, coalesce(sum(length(value)), 0) AS b FROM kv WHERE ns = @ns AND ${LIVE}`,
    ),
    kvDeleteExpiredNs: db.prepare<{ ns: string; now: number }>(
      'DELETE FROM kv WHERE ns = @ns AND expires_at > 0 AND expires_at <= @now',
    ),
    // Keep the most recently used rows while both the running count and byte sum fit.
    kvEvict: db.prepare<{ ns: string; maxEntries: number; maxBytes: number }, { key: string }>(
      `DELETE FROM kv WHERE rowid IN (
         SELECT id FROM (
           SELECT rowid AS id,
                  row_number() OVER w AS rn,
                  sum(length(value)) OVER w AS total
           FROM kv WHERE ns = @ns
           WINDOW w AS (ORDER BY used_at DESC, rowid DESC ROWS UNBOUNDED PRECEDING)
         ) WHERE rn > @maxEntries OR total > @maxBytes)
       RETURNING key`,
    ),
    kvSweep: db.prepare<{ now: number }>(
      `DELETE FROM kv WHERE rowid IN
         (SELECT rowid FROM kv WHERE expires_at > 0 AND expires_at <= @now LIMIT ${SWEEP_BATCH})`,
    ),
    counterGet: db.prepare<{ key: string }, { value: number; expiresAt: number }>(
      'SELECT value, expires_at AS expiresAt FROM counters WHERE key = @key',
    ),
    counterPut: db.prepare<{ key: string; value: number; expiresAt: number }>(
      `INSERT INTO counters (key, value, expires_at) VALUES (@key, @value, @expiresAt)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ),
    counterSweep: db.prepare<{ now: number }>(
      `DELETE FROM counters WHERE key IN
         (SELECT key FROM counters WHERE expires_at > 0 AND expires_at <= @now LIMIT ${SWEEP_BATCH})`,
    ),
    ledgerInserts: LEDGER_INSERT_SIZES.map((rows) => ({
      rows,
      statement: db.prepare<unknown[]>(
        `INSERT INTO ledger (name, ts, row) VALUES ${Array(rows).fill('(?, ?, ?)').join(', ')}`,
      ),
    })),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** One SQLite database holding every KV namespace, the counters and the ledgers. */
export class SqliteStore {
  readonly db: Database.Database;
  readonly counters: CounterStore;
  readonly #statements: Statements;
  readonly #now: () => number;
  readonly #ledgerCommitIntervalMs: number;
  readonly #kvCommitIntervalMs: number;
  readonly #sweeper: NodeJS.Timeout | undefined;
  readonly #namespaces = new Set<SqliteKvStore>();
  readonly #ledgers = new Set<{ flush(): void }>();
  #lastUse = 0;

  constructor(file: string, options: SqliteOptions = {}) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.#statements = prepareStatements(this.db);
    this.#now = options.now ?? Date.now;
    this.#ledgerCommitIntervalMs = options.ledgerCommitIntervalMs ?? LEDGER_COMMIT_INTERVAL_MS;
    this.#kvCommitIntervalMs = options.kvCommitIntervalMs ?? KV_COMMIT_INTERVAL_MS;
    this.counters = new SqliteCounterStore(this.db, this.#statements, this.#now);
    const every = options.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      // A timer's exception would end the process: a failed sweep (disk full, lock timeout) is
      // reported and tried again next time.
      this.#sweeper = setInterval(() => {
        try {
          this.sweep();
        } catch (error) {
          process.emitWarning(
            `sweep of expired entries failed: ${(error as Error).message}`,
            'SluiceStoreSweepError',
          );
        }
      }, every);
      this.#sweeper.unref();
    }
  }

  /**
   * The KV namespace `namespace`. With `groupCommit`, its writes are committed in groups (see
   * SqliteKvStore.set): for caches, whose last few milliseconds of writes may be lost in a crash.
   */
  kv(
    namespace: string,
    limits: KvLimits = {},
    hooks: SqliteKvHooks = {},
    { groupCommit = false }: { groupCommit?: boolean } = {},
  ): SqliteKv {
    const store = new SqliteKvStore(namespace, limits, hooks, this.db, this.#statements, {
      now: this.#now,
      stamp: () => this.#useStamp(),
      commitIntervalMs: groupCommit ? this.#kvCommitIntervalMs : undefined,
    });
    this.#namespaces.add(store);
    return store;
  }

  ledger<Row extends { ts: number }>(name: string): LedgerStore<Row> {
    const ledger = new SqliteLedgerStore<Row>(this.db, this.#statements, name, this.#ledgerCommitIntervalMs);
    this.#ledgers.add(ledger);
    return ledger;
  }

  /** Delete expired KV rows and counters, in batches so one sweep never holds the lock long. */
  sweep(): void {
    for (const ns of this.#namespaces) ns.flush();
    const now = this.#now();
    while (this.#statements.kvSweep.run({ now }).changes === SWEEP_BATCH) {}
    while (this.#statements.counterSweep.run({ now }).changes === SWEEP_BATCH) {}
    for (const ns of this.#namespaces) ns.forgetTotals();
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    if (!this.db.open) return;
    for (const ns of this.#namespaces) {
      try {
        ns.flush();
      } catch {}
    }
    // Rows still waiting for their group commit are written first; a failure reaches their appenders.
    for (const ledger of this.#ledgers) {
      try {
        ledger.flush();
      } catch {}
    }
    this.db.close();
  }

  /** A strictly increasing use stamp (µs resolution), so LRU order has no ties within a process. */
  #useStamp(): number {
    this.#lastUse = Math.max(this.#now() * 1000, this.#lastUse + 1);
    return this.#lastUse;
  }
}

/** Hooks a memory front uses to stay consistent with this namespace. */
export interface SqliteKvHooks {
  /** Keys the LRU eviction removed (so a front can drop them too). */
  onEvict?: (keys: readonly string[]) => void;
}

/** A SQLite KV namespace, plus batched use marks from a memory front's hits. */
export interface SqliteKv extends KvStore {
  /** Record reads served by a front, so LRU eviction here sees them. */
  markUsed(keys: Iterable<string>): void;
}

const asBuffer = (value: Uint8Array): Buffer =>
  Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);

/** A write waiting for its namespace's group commit; it is what readers of the key see. */
interface PendingWrite {
  value: Buffer;
  expiresAt: number;
  usedAt: number;
}

/** ...but as soon as this many writes wait, so a burst never holds many values in memory. */
const KV_COMMIT_AT_WRITES = 256;

interface SqliteKvTiming {
  now: () => number;
  /** The next LRU use stamp. */
  stamp: () => number;
  /** Set: writes are group-committed at most this often under traffic; unset: each write commits. */
  commitIntervalMs: number | undefined;
}

/**
 * One KV namespace. With limits, it keeps running totals (loaded on first need, reloaded after
 * an eviction or sweep) so a write only runs the eviction query when a limit is exceeded.
 * `close()` is a no-op: the database belongs to `SqliteStore`.
 *
 * With group commit, `set` keeps the write in `#pending` and commits it with the others in one
 * transaction: a commit (WAL frames, pager phases) costs far more than a row, and one commit per
 * cache write was a quarter of a cache miss's CPU. Reads, touches and deletes of a key look at
 * `#pending` first, so every caller sees what it would see had the write been committed; what
 * needs the table as a whole (listing, prefix deletes, totals, eviction, sweeps, close) commits
 * the pending writes first.
 */
class SqliteKvStore implements SqliteKv {
  readonly #ns: string;
  readonly #hooks: SqliteKvHooks;
  readonly #markUsedMany: (keys: Iterable<string>) => void;
  readonly #upsertMany: (writes: Map<string, PendingWrite>) => void;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #limited: boolean;
  readonly #st: Statements;
  readonly #now: () => number;
  readonly #stamp: () => number;
  readonly #commitIntervalMs: number | undefined;
  #totals: { n: number; b: number } | undefined;
  #pending = new Map<string, PendingWrite>();
  /** Cancels the scheduled group commit; set while writes wait. */
  #cancelCommit: (() => void) | undefined;
  /** performance.now() of the last group commit. */
  #lastCommit = Number.NEGATIVE_INFINITY;

  constructor(
    ns: string,
    limits: KvLimits,
    hooks: SqliteKvHooks,
    db: Database.Database,
    st: Statements,
    timing: SqliteKvTiming,
  ) {
    const { maxEntries, maxBytes } = checkLimits(limits);
    this.#ns = ns;
    this.#hooks = hooks;
    this.#markUsedMany = db.transaction((keys: Iterable<string>) => {
      for (const key of keys) {
        const pending = this.#pending.get(key);
        if (pending) pending.usedAt = timing.stamp();
        else st.kvMarkUsed.run({ ns, key, usedAt: timing.stamp() });
      }
    });
    this.#upsertMany = db.transaction((writes: Map<string, PendingWrite>) => {
      for (const [key, write] of writes) st.kvUpsert.run({ ns, key, ...write });
    });
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
    this.#limited = Number.isFinite(maxEntries) || Number.isFinite(maxBytes);
    this.#st = st;
    this.#now = timing.now;
    this.#stamp = timing.stamp;
    this.#commitIntervalMs = timing.commitIntervalMs;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.#read(key)?.value;
  }

  async getEntry(key: string): Promise<KvEntry | undefined> {
    return this.#read(key);
  }

  async set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    const ns = this.#ns;
    const now = this.#now();
    if (value.byteLength > this.#maxBytes) {
      this.#forget(key);
      return;
    }
    const previous = this.#limited ? this.#liveSize(key, now) : undefined;
    const write = { value: asBuffer(value), expiresAt: expiresAtFor(ttlSeconds, now), usedAt: this.#stamp() };
    if (this.#commitIntervalMs === undefined) this.#st.kvUpsert.run({ ns, key, ...write });
    else this.#enqueue(key, write);
    if (!this.#limited) return;
    const totals = this.#totals;
    if (totals) {
      if (previous === undefined) totals.n += 1;
      totals.b += value.byteLength - (previous ?? 0);
    } else {
      this.flush();
      this.#totals = this.#st.kvTotals.get({ ns, now }) ?? { n: 0, b: 0 };
    }
    const { n, b } = this.#totals!;
    if (n > this.#maxEntries || b > this.#maxBytes) this.#evict(now);
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.#now();
    const expiresAt = expiresAtFor(ttlSeconds, now);
    const pending = this.#pending.get(key);
    if (pending) {
      if (!isLive(pending.expiresAt, now)) return this.#forget(key);
      pending.expiresAt = expiresAt;
      pending.usedAt = this.#stamp();
      return true;
    }
    return this.#st.kvTouch.run({ ns: this.#ns, key, now, expiresAt, usedAt: this.#stamp() }).changes > 0;
  }

  async delete(key: string): Promise<boolean> {
    return this.#forget(key);
  }

  async deletePrefix(prefix: string): Promise<number> {
    this.flush();
    const now = this.#now();
    const gone = this.#st.kvDeleteRange.all({ ns: this.#ns, from: prefix, to: prefix + PREFIX_END });
    if (gone.length > 0) this.#totals = undefined;
    return gone.filter((row) => isLive(row.expiresAt, now)).length;
  }

  async *keys(prefix: string): AsyncIterable<string> {
    this.flush();
    const rows = this.#st.kvKeysRange.all({
      ns: this.#ns,
      from: prefix,
      to: prefix + PREFIX_END,
      now: this.#now(),
    });
    for (const row of rows) yield row.key;
  }

  async close(): Promise<void> {}

  markUsed(keys: Iterable<string>): void {
    if (this.#limited) this.#markUsedMany(keys);
  }

  /** Totals are stale after a sweep; reload them on the next write. */
  forgetTotals(): void {
    this.#totals = undefined;
  }

  /**
   * Commit the pending writes now. If the commit fails they are dropped (a cache entry lost, as
   * in a crash), the totals are reloaded on the next write, and the error is thrown.
   */
  flush(): void {
    if (this.#pending.size === 0) return;
    const writes = this.#pending;
    this.#pending = new Map();
    this.#cancelCommit?.();
    this.#cancelCommit = undefined;
    this.#lastCommit = performance.now();
    try {
      this.#upsertMany(writes);
    } catch (error) {
      this.#totals = undefined;
      throw error;
    }
  }

  #enqueue(key: string, write: PendingWrite): void {
    this.#pending.set(key, write);
    if (this.#pending.size >= KV_COMMIT_AT_WRITES) {
      this.#commitInBackground();
      return;
    }
    this.#cancelCommit ??= scheduleCommit(this.#lastCommit, this.#commitIntervalMs ?? 0, () =>
      this.#commitInBackground(),
    );
  }

  /**
   * Nobody waits on a grouped write: a failed commit loses cache entries and nothing else. It
   * is said on stderr all the same (a disk that refuses writes will soon fail the counters too).
   */
  #commitInBackground(): void {
    const count = this.#pending.size;
    try {
      this.flush();
    } catch (error) {
      process.emitWarning(
        `${count} cache writes to '${this.#ns}' were not committed and are lost: ${(error as Error).message}`,
        'SluiceCacheCommitError',
      );
    }
  }

  /** Bytes of the key's live value (pending or stored), undefined when it has none. */
  #liveSize(key: string, now: number): number | undefined {
    const pending = this.#pending.get(key);
    if (pending) return isLive(pending.expiresAt, now) ? pending.value.byteLength : undefined;
    return this.#st.kvLiveSize.get({ ns: this.#ns, key, now })?.n;
  }

  #read(key: string): KvEntry | undefined {
    const ns = this.#ns;
    const pending = this.#pending.get(key);
    const row = pending ?? this.#st.kvGet.get({ ns, key });
    if (!row) return undefined;
    if (!isLive(row.expiresAt, this.#now())) {
      this.#forget(key);
      return undefined;
    }
    if (pending) {
      if (this.#limited) pending.usedAt = this.#stamp();
      return { value: pending.value, expiresAt: pending.expiresAt };
    }
    if (this.#limited) this.#st.kvMarkUsed.run({ ns, key, usedAt: this.#stamp() });
    return row;
  }

  /** Delete the key; true if it had a live value. A pending write supersedes the stored row. */
  #forget(key: string): boolean {
    const pending = this.#pending.get(key);
    this.#pending.delete(key);
    const row = this.#st.kvDelete.get({ ns: this.#ns, key });
    if (!row && !pending) return false;
    this.#totals = undefined;
    return isLive((pending ?? row)!.expiresAt, this.#now());
  }

  #evict(now: number): void {
    this.flush();
    const ns = this.#ns;
    this.#st.kvDeleteExpiredNs.run({ ns, now });
    // Evict down to 90 % of the limits, not just under them: the eviction scan then runs once
    // per tenth of the capacity written instead of on every insert into a full store.
    const evicted = this.#st.kvEvict.all({
      ns,
      maxEntries: toSqlLimit(withSlack(this.#maxEntries)),
      maxBytes: toSqlLimit(withSlack(this.#maxBytes)),
    });
    this.#totals = undefined;
    if (evicted.length > 0) this.#hooks.onEvict?.(evicted.map((row) => row.key));
  }
}

/** SQLite integers stop at 2^63; an unlimited bound becomes the largest safe JS integer. */
const toSqlLimit = (n: number): number => (Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER);

/** Counters in one table; `tryAdd` checks and writes inside one IMMEDIATE transaction. */
class SqliteCounterStore implements CounterStore {
  readonly #st: Statements;
  readonly #now: () => number;
  readonly #tryAdd: (adds: readonly CounterAdd[]) => TryAddResult;
  readonly #add: (key: string, amount: number, ttlSeconds: number) => number;

  constructor(db: Database.Database, st: Statements, now: () => number) {
    this.#st = st;
    this.#now = now;
    // IMMEDIATE takes the write lock before the reads, so two processes on one file cannot
    // both pass the check (inside one process better-sqlite3 is synchronous anyway).
    const tryAdd = db.transaction((adds: readonly CounterAdd[]): TryAddResult => {
      const now = this.#now();
      const pending = new Map<string, { value: number; expiresAt: number }>();
      for (let i = 0; i < adds.length; i++) {
        const { key, amount, limit, ttlSeconds } = adds[i];
        const current = pending.get(key) ?? this.#live(key, now);
        const value = current ? current.value : 0;
        if (value + amount > limit) return { ok: false, index: i, current: value };
        pending.set(key, {
          value: value + amount,
          expiresAt: current?.expiresAt ?? expiresAtFor(ttlSeconds, now),
        });
      }
      const values: number[] = [];
      for (const add of adds) values.push(pending.get(add.key)!.value);
      for (const [key, counter] of pending) this.#st.counterPut.run({ key, ...counter });
      return { ok: true, values };
    });
    this.#tryAdd = (adds) => tryAdd.immediate(adds);
    const add = db.transaction((key: string, amount: number, ttlSeconds: number): number => {
      const now = this.#now();
      const current = this.#live(key, now);
      const value = (current?.value ?? 0) + amount;
      this.#st.counterPut.run({ key, value, expiresAt: current?.expiresAt ?? expiresAtFor(ttlSeconds, now) });
      return value;
    });
    this.#add = (key, amount, ttlSeconds) => add.immediate(key, amount, ttlSeconds);
  }

  async tryAdd(adds: readonly CounterAdd[]): Promise<TryAddResult> {
    return this.#tryAdd(adds);
  }

  async add(key: string, amount: number, ttlSeconds: number): Promise<number> {
    return this.#add(key, amount, ttlSeconds);
  }

  async get(keys: readonly string[]): Promise<number[]> {
    const now = this.#now();
    return keys.map((key) => this.#live(key, now)?.value ?? 0);
  }

  async close(): Promise<void> {}

  #live(key: string, now: number): { value: number; expiresAt: number } | undefined {
    const row = this.#st.counterGet.get({ key });
    return row && isLive(row.expiresAt, now) ? row : undefined;
  }
}

/** ...but as soon as this many rows wait, so a burst never holds many rows in memory. */
const COMMIT_AT_ROWS = 256;

interface PendingCommit {
  /** What every append of the batch returns. */
  done: Promise<void>;
  settle: (error?: unknown) => void;
  /** Stop the scheduled commit (the batch was committed sooner). */
  cancel: () => void;
}

/**
 * Ledger rows as JSON text, range-scanned through the (name, ts) index. `where` filters run in
 * SQL; the statement for each set of filtered fields is prepared once and reused.
 */
class SqliteLedgerStore<Row extends { ts: number }> implements LedgerStore<Row> {
  readonly #db: Database.Database;
  readonly #name: string;
  readonly #queries = new Map<string, Statement<unknown[], { row: string }>>();
  readonly #rollupPage: Statement<unknown[], { id: number; ts: number; row: string }>;

  /** Rows waiting for the next group commit, and the promise their appends resolve with. */
  #pending: Row[] = [];
  #batch: PendingCommit | undefined;
  /** performance.now() of the last commit: the next one waits until #commitIntervalMs after it. */
  #lastCommit = Number.NEGATIVE_INFINITY;
  readonly #commitIntervalMs: number;
  readonly #insertMany: (rows: readonly Row[]) => void;

  constructor(db: Database.Database, st: Statements, name: string, commitIntervalMs: number) {
    this.#db = db;
    this.#name = name;
    this.#commitIntervalMs = commitIntervalMs;
    this.#rollupPage = db.prepare<unknown[], { id: number; ts: number; row: string }>(
      `SELECT id, ts, row FROM ledger WHERE name = ? AND ((ts = ? AND id > ?) OR ts > ?) AND ts < ?
       ORDER BY ts, id LIMIT ?`,
    );
    this.#insertMany = db.transaction((rows: readonly Row[]) => {
      let next = 0;
      for (const insert of st.ledgerInserts) {
        for (; rows.length - next >= insert.rows; next += insert.rows) {
          const values: unknown[] = new Array(insert.rows * 3);
          for (let i = 0; i < insert.rows; i++) {
            const row = rows[next + i];
            values[i * 3] = name;
            values[i * 3 + 1] = row.ts;
            values[i * 3 + 2] = JSON.stringify(row);
          }
          insert.statement.run(values);
        }
      }
    });
  }

  /**
   * One row per call is the hot path, and a commit (WAL frames written, a checkpoint now and
   * then) costs far more than a row: one-row commits cost 17–38 µs CPU each, rows in batches
   * of a hundred ~4 µs (bench/ledger-append.ts and a tight loop), so commits are
   * grouped: a row appended while the store is quiet is committed on the next event-loop turn,
   * and under traffic at most one commit is made per interval (10 ms by default; sooner once
   * COMMIT_AT_ROWS rows wait). The promise resolves once the row is committed; reads, rollups
   * and close commit what is pending first.
   */
  append(row: Row): Promise<void> {
    this.#pending.push(row);
    this.#batch ??= this.#schedule();
    const batch = this.#batch;
    if (this.#pending.length >= COMMIT_AT_ROWS) this.#commitInBackground();
    return batch.done;
  }

  #schedule(): PendingCommit {
    const cancel = scheduleCommit(this.#lastCommit, this.#commitIntervalMs, () => this.#commitInBackground());
    let settle!: PendingCommit['settle'];
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    return { done, settle, cancel };
  }

  /** The rows' appenders are told of a failure through the promises `append` returned. */
  #commitInBackground(): void {
    try {
      this.flush();
    } catch {}
  }

  /** Commit the pending rows now; throws (and rejects their appends) if the commit fails. */
  flush(): void {
    const batch = this.#batch;
    if (!batch) return;
    const rows = this.#pending;
    this.#pending = [];
    this.#batch = undefined;
    batch.cancel();
    this.#lastCommit = performance.now();
    try {
      this.#insertMany(rows);
    } catch (error) {
      batch.settle(error ?? new Error('ledger commit failed'));
      throw error;
    }
    batch.settle();
  }

  async query(filter: {
    since: number;
    until?: number;
    where?: Partial<Record<keyof Row, string>>;
  }): Promise<Row[]> {
    this.flush();
    const fields: string[] = [];
    const values: string[] = [];
    for (const [field, value] of Object.entries(filter.where ?? {})) {
      if (typeof value !== 'string') continue;
      fields.push(checkLedgerField(field));
      values.push(value);
    }
    const statement = this.#statementFor(fields);
    const until = filter.until ?? Number.MAX_VALUE;
    return statement.all(this.#name, filter.since, until, ...values).map((r) => JSON.parse(r.row) as Row);
  }

  /**
   * The range in pages by (ts, id) through the (name, ts) index, each page one short
   * synchronous read, with a turn of the event loop between pages.
   */
  async rollup(queries: readonly LedgerRollupQuery[]): Promise<LedgerRollupGroup[][]> {
    const rollup = new MultiRollup(queries);
    this.flush();
    let afterTs = rollup.since;
    let afterId = -1;
    for (;;) {
      const page = this.#rollupPage.all(this.#name, afterTs, afterId, afterTs, rollup.until, ROLLUP_PAGE);
      for (const r of page) rollup.add(JSON.parse(r.row));
      if (page.length < ROLLUP_PAGE) break;
      afterTs = page[page.length - 1].ts;
      afterId = page[page.length - 1].id;
      await nextTurn();
    }
    return rollup.result();
  }

  async close(): Promise<void> {
    this.flush();
  }

  #statementFor(fields: readonly string[]): Statement<unknown[], { row: string }> {
    const id = fields.join(',');
    let statement = this.#queries.get(id);
    if (!statement) {
      const where = whereSql(fields);
      statement = this.#db.prepare<unknown[], { row: string }>(
        `SELECT row FROM ledger WHERE name = ? AND ts >= ? AND ts < ?${where} ORDER BY ts, id`,
      );
      this.#queries.set(id, statement);
    }
    return statement;
  }
}

/** A ledger field as text, by the rule of ledgerRowMatches: text as is, numbers by their decimal text. */
function fieldTextSql(field: string): string {
  const path = `'$.${field}'`;
  return `(CASE json_type(row, ${path})
             WHEN 'text' THEN json_extract(row, ${path})
             WHEN 'integer' THEN CAST(json_extract(row, ${path}) AS TEXT)
             WHEN 'real' THEN CAST(json_extract(row, ${path}) AS TEXT)
           END)`;
}

function whereSql(fields: readonly string[]): string {
  return fields.map((field) => ` AND ${fieldTextSql(field)} = ?`).join('');
}
