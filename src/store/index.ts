import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryCounterStore, MemoryKvStore, MemoryLedgerStore } from './memory.js';
import type { LedgerRetention } from './postgres-ledger.js';
import { PostgresStore } from './postgres.js';
import { RedisStore } from './redis.js';
import { SqliteStore } from './sqlite.js';
import { TieredKvStore } from './tiered.js';
import type {
  CounterStore,
  KvLimits,
  KvStore,
  LeaseStore,
  LedgerStore,
  SharedCircuitStore,
} from './types.js';

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
  /**
   * What must last (ledgers, virtual keys) in PostgreSQL; hot state stays on Redis or the
   * embedded store.
   */
  databaseUrl?: string;
  database?: {
    poolSize?: number;
    statementTimeoutMs?: number;
    retention?: LedgerRetention;
  };
}

/** A shared dependency's state for `/healthz`: `degraded` while its last use failed. */
export type DependencyHealth = 'ok' | 'degraded';

export interface Backend {
  readonly kind: BackendKind;
  /**
   * The KV namespace `namespace`, created on first use. Asking again returns the same store;
   * asking again with different limits is a bug and throws.
   */
  kv(namespace: string, limits?: KvLimits): KvStore;
  readonly counters: CounterStore;
  /**
   * A KV namespace for records that must last (virtual keys): PostgreSQL when configured,
   * else the same as `kv(namespace)`. Never size-limited.
   */
  durableKv(namespace: string): KvStore;
  /** The ledger `name`, created on first use (the same store on every call). */
  ledger<Row extends { ts: number }>(name: string): LedgerStore<Row>;
  /**
   * Coordination between instances, present only on a shared backend (Redis): single-flight
   * leases, and each upstream's shared circuit-breaker state.
   */
  readonly leases?: LeaseStore;
  circuit?(upstream: string): SharedCircuitStore;
  /** Store health for `/v1/stats` (Redis only: failed commands, ledger rows spooled/replayed). */
  stats?(): BackendStats;
  /** Shared dependencies in use and whether each is answering (`/healthz`). */
  health(): Partial<Record<'redis' | 'postgres', DependencyHealth>>;
  close(): Promise<void>;
}

export interface BackendStats {
  kind: BackendKind;
  /** Commands that failed because the store was away (unreachable, timed out, loading). */
  unavailable: number;
  /** Ledger rows written to the local spool while the store was away, and replayed since. */
  ledgerSpooled: number;
  ledgerReplayed: number;
  /** Present when `DATABASE_URL` is set: the same counts for PostgreSQL. */
  postgres?: { unavailable: number; ledgerSpooled: number; ledgerReplayed: number };
}

/**
 * Open the storage picked at boot: hot state (caches, counters) on Redis when `redisUrl` is
 * set, else in memory when asked, else embedded (SQLite in `dataDir`, KV namespaces with a
 * memory front); ledgers and durable namespaces on PostgreSQL when `databaseUrl` is set, else
 * with the hot state.
 */
export async function openBackend(options: BackendOptions): Promise<Backend> {
  const hot = await openHotParts(options);
  if (!options.databaseUrl) return assemble(hot.kind, hot);
  let postgres: PostgresStore;
  try {
    postgres = await PostgresStore.connect(options.databaseUrl, {
      connectTimeoutMs: options.connectTimeoutMs,
      statementTimeoutMs: options.database?.statementTimeoutMs,
      maxConnections: options.database?.poolSize,
      retention: options.database?.retention,
      // Ledger rows wait here while PostgreSQL is away (none without a data directory).
      spoolDir: options.dataDir ? join(options.dataDir, 'spool') : undefined,
    });
  } catch (error) {
    await hot.close();
    throw error;
  }
  return assemble(hot.kind, {
    ...hot,
    durableKv: (ns) => postgres.kv(ns),
    ledger: (name) => postgres.ledger(name),
    stats: () => ({
      ...hot.stats?.(),
      postgres: { unavailable: postgres.link.failures, ...postgres.spoolStats() },
    }),
    health: () => ({ ...hot.health?.(), postgres: postgres.link.healthy ? 'ok' : 'degraded' }),
    close: async () => {
      await postgres.close();
      await hot.close();
    },
  });
}

async function openHotParts(options: BackendOptions): Promise<Parts & { kind: BackendKind }> {
  if (options.redisUrl) {
    const store = await RedisStore.connect(options.redisUrl, {
      keyPrefix: options.redisKeyPrefix,
      sweepIntervalMs: options.sweepIntervalMs,
      connectTimeoutMs: options.connectTimeoutMs,
      commandTimeoutMs: options.commandTimeoutMs,
      // Ledger rows wait here while Redis is away (none without a data directory).
      spoolDir: options.dataDir ? join(options.dataDir, 'spool') : undefined,
    });
    return {
      kind: 'redis',
      kv: (ns, limits) => store.kv(ns, limits),
      counters: store.counters,
      leases: store.leases,
      circuit: (upstream) => store.circuit(upstream),
      ledger: (name) => store.ledger(name),
      stats: () => ({ unavailable: store.link.failures, ...store.spoolStats() }),
      health: () => ({ redis: store.redis.status === 'ready' && store.link.available ? 'ok' : 'degraded' }),
      close: () => store.close(),
    };
  }
  if (options.memory) {
    return {
      kind: 'memory',
      kv: (_ns, limits) => new MemoryKvStore({ ...limits, sweepIntervalMs: options.sweepIntervalMs }),
      counters: new MemoryCounterStore(),
      ledger: () => new MemoryLedgerStore(),
      close: async () => {},
    };
  }
  mkdirSync(options.dataDir, { recursive: true });
  const sqlite = new SqliteStore(join(options.dataDir, 'sluice.db'), {
    sweepIntervalMs: options.sweepIntervalMs,
  });
  return {
    kind: 'sqlite',
    kv: (ns, limits) => {
      const front = new MemoryKvStore({ ...limits, sweepIntervalMs: options.sweepIntervalMs });
      const back = sqlite.kv(
        ns,
        limits,
        {
          onEvict: (keys) => {
            for (const key of keys) front.deleteNow(key);
          },
        },
        // Caches: a write of the last few milliseconds lost in a crash is a later miss.
        { groupCommit: true },
      );
      return new TieredKvStore(front, back);
    },
    // Records that must last (virtual keys) commit each write before `set` resolves.
    durableKv: (ns) =>
      new TieredKvStore(new MemoryKvStore({ sweepIntervalMs: options.sweepIntervalMs }), sqlite.kv(ns)),
    counters: sqlite.counters,
    ledger: (name) => sqlite.ledger(name),
    close: () => sqlite.close(),
  };
}

interface Parts {
  kv(namespace: string, limits: KvLimits): KvStore;
  /** Durable namespaces; default: `kv` without limits. */
  durableKv?(namespace: string): KvStore;
  counters: CounterStore;
  leases?: LeaseStore;
  circuit?(upstream: string): SharedCircuitStore;
  ledger(name: string): LedgerStore<{ ts: number }>;
  stats?(): Partial<Omit<BackendStats, 'kind'>>;
  health?(): Partial<Record<'redis' | 'postgres', DependencyHealth>>;
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
    leases: parts.leases,
    circuit: parts.circuit,
    stats: () => ({ kind, unavailable: 0, ledgerSpooled: 0, ledgerReplayed: 0, ...parts.stats?.() }),
    health: () => parts.health?.() ?? {},
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
    durableKv(namespace) {
      checkStoreName('kv namespace', namespace);
      if (!parts.durableKv) return this.kv(namespace);
      const fingerprint = 'durable';
      const known = namespaces.get(namespace);
      if (known) {
        if (known.limits !== fingerprint) {
          throw new TypeError(`kv namespace '${namespace}' already opened as a non-durable namespace`);
        }
        return known.store;
      }
      const store = parts.durableKv(namespace);
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
