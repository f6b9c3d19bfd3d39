import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryCounterStore, MemoryKvStore, MemoryLedgerStore } from './memory.js';
import { RedisStore } from './redis.js';
import { SqliteStore } from './sqlite.js';
import { TieredKvStore } from './tiered.js';
import type { CounterStore, KvLimits, KvStore, LedgerStore } from './types.js';

export type * from './types.js';
export { isStoreUnavailable, StoreUnavailableError } from './errors.js';

export type BackendKind = 'memory' | 'sqlite' | 'redis';

export interface BackendOptions {
  /** Directory of the embedded database (`sluice.db`), created if missing. */
  dataDir: string;
  /** Shared state on Redis (several gateway instances); wins over the embedded store. */
  redisUrl?: string;
  /** Everything in process memory, nothing on disk (tests, throw-away runs). */
  memory?: boolean;
  /** Redis key prefix; default `sluice:`. */
  redisKeyPrefix?: string;
  /** How often expired entries are deleted in bulk; default 60 s. */
  sweepIntervalMs?: number;
  /** Redis connect timeout (boot and reconnects); default 2000 ms. */
  connectTimeoutMs?: number;
  /** Redis command timeout: past it the store counts as unavailable; default 500 ms. */
  commandTimeoutMs?: number;
}

export interface Backend {
  readonly kind: BackendKind;
  /**
   * The KV namespace `namespace`, created on first use. Asking again returns the same store;
   * asking again with different limits is a bug and throws.
   */
  kv(namespace: string, limits?: KvLimits): KvStore;
  readonly counters: CounterStore;
  /** The ledger `name`, created on first use (the same store on every call). */
  ledger<Row extends { ts: number }>(name: string): LedgerStore<Row>;
  /** Store health for `/v1/stats` (Redis only: failed commands, ledger rows spooled/replayed). */
  stats?(): BackendStats;
  close(): Promise<void>;
}

export interface BackendStats {
  kind: BackendKind;
  /** Commands that failed because the store was away (unreachable, timed out, loading). */
  unavailable: number;
  /** Ledger rows written to the local spool while the store was away, and replayed since. */
  ledgerSpooled: number;
  ledgerReplayed: number;
}

/**
 * Open the storage picked at boot: Redis when `redisUrl` is set, else memory when asked, else
 * the embedded default (SQLite in `dataDir`, KV namespaces with a memory front).
 */
export async function openBackend(options: BackendOptions): Promise<Backend> {
  if (options.redisUrl) {
    const store = await RedisStore.connect(options.redisUrl, {
      keyPrefix: options.redisKeyPrefix,
      sweepIntervalMs: options.sweepIntervalMs,
      connectTimeoutMs: options.connectTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs,
      // Ledger rows wait here while Redis is away (none without a data directory).
      spoolDir: options.dataDir ? join(options.dataDir, 'spool') : undefined,
    });
    return assemble('redis', {
      kv: (ns, limits) => store.kv(ns, limits),
      counters: store.counters,
      ledger: (name) => store.ledger(name),
      stats: () => ({ unavailable: store.link.failures, ...store.spoolStats() }),
      close: () => store.close(),
    });
  }
  if (options.memory) {
    return assemble('memory', {
      kv: (_ns, limits) => new MemoryKvStore({ ...limits, sweepIntervalMs: options.sweepIntervalMs }),
      counters: new MemoryCounterStore(),
      ledger: () => new MemoryLedgerStore(),
      close: async () => {},
    });
  }
  mkdirSync(options.dataDir, { recursive: true });
  const sqlite = new SqliteStore(join(options.dataDir, 'sluice.db'), {
    sweepIntervalMs: options.sweepIntervalMs,
  });
  return assemble('sqlite', {
    kv: (ns, limits) => {
      const front = new MemoryKvStore({ ...limits, sweepIntervalMs: options.sweepIntervalMs });
      const back = sqlite.kv(ns, limits, {
        onEvict: (keys) => {
          for (const key of keys) front.deleteNow(key);
        },
      });
      return new TieredKvStore(front, back);
    },
    counters: sqlite.counters,
    ledger: (name) => sqlite.ledger(name),
    close: () => sqlite.close(),
  });
}

interface Parts {
  kv(namespace: string, limits: KvLimits): KvStore;
  counters: CounterStore;
  ledger(name: string): LedgerStore<{ ts: number }>;
  stats?(): Omit<BackendStats, 'kind'>;
  close(): Promise<void>;
}

/**
 * Namespace and ledger names become key prefixes (`kv:<namespace>:` on Redis); without `:` in
 * them no namespace's keys can fall under another's prefix. They are names chosen in code, so
 * a bad one is a programming error.
 */
function checkStoreName(what: string, name: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(name))
    throw new TypeError(`${what} name '${name}' must be letters, digits, _ or -`);
}

/** Memoise namespaces and ledgers so every caller of one name shares one store. */
function assemble(kind: BackendKind, parts: Parts): Backend {
  const namespaces = new Map<string, { store: KvStore; limits: string }>();
  const ledgers = new Map<string, LedgerStore<{ ts: number }>>();
  return {
    kind,
    counters: parts.counters,
    stats: () => ({ kind, unavailable: 0, ledgerSpooled: 0, ledgerReplayed: 0, ...parts.stats?.() }),
    kv(namespace, limits = {}) {
      checkStoreName('kv namespace', namespace);
      const fingerprint = JSON.stringify([limits.maxEntries ?? null, limits.maxBytes ?? null]);
      const known = namespaces.get(namespace);
      if (known) {
        if (known.limits !== fingerprint) {
          throw new TypeError(`kv namespace '${namespace}' already opened with other limits`);
        }
        return known.store;
      }
      const store = parts.kv(namespace, limits);
      namespaces.set(namespace, { store, limits: fingerprint });
      return store;
    },
    ledger<Row extends { ts: number }>(name: string): LedgerStore<Row> {
      checkStoreName('ledger', name);
      let ledger = ledgers.get(name);
      if (!ledger) {
        ledger = parts.ledger(name);
        ledgers.set(name, ledger);
      }
      // The map holds ledgers of every row type; each name is only ever used with one.
      return ledger as unknown as LedgerStore<Row>;
    },
    async close() {
      for (const { store } of namespaces.values()) await store.close();
      for (const ledger of ledgers.values()) await ledger.close();
      await parts.counters.close();
      await parts.close();
    },
  };
}
