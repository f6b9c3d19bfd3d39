import { LedgerSpool, replayAllSpools, spoolTotals } from './ledger-spool.js';
import { type LedgerRetention, PostgresLedgerStore } from './postgres-ledger.js';
import { PostgresKvStore } from './postgres-kv.js';
import { PostgresLink, type PostgresLinkOptions } from './postgres-link.js';
import { migrate } from './postgres-migrations.js';

export interface PostgresStoreOptions extends PostgresLinkOptions {
  /** Directory where ledger rows wait while PostgreSQL is away; none = a failed write rejects. */
  spoolDir?: string;
  /** How often spooled rows are retried and the database is probed; default 2 s. */
  replayIntervalMs?: number;
  retention?: LedgerRetention;
  retentionIntervalMs?: number;
}

/**
 * What must last, in PostgreSQL (`DATABASE_URL`): the ledgers (rows and rollups) and durable
 * KV namespaces (virtual keys). Hot state (caches, counters) stays on Redis or the embedded
 * store. The schema is migrated at connect; a heartbeat keeps `healthy` current while idle.
 */
export class PostgresStore {
  readonly link: PostgresLink;
  readonly #options: PostgresStoreOptions;
  readonly #ledgers = new Set<PostgresLedgerStore<{ ts: number }>>();
  readonly #namespaces = new Set<PostgresKvStore>();
  readonly #heartbeat: NodeJS.Timeout;

  private constructor(link: PostgresLink, options: PostgresStoreOptions) {
    this.link = link;
    this.#options = options;
    this.#heartbeat = setInterval(() => {
      void this.link.probe();
      for (const ns of this.#namespaces) void ns.sweep().catch(() => {});
    }, options.replayIntervalMs ?? 2_000);
    this.#heartbeat.unref();
  }

  /** Connect and migrate, failing fast (naming the host, never the password) when the database is not there. */
  static async connect(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const link = new PostgresLink(url, options);
    try {
      await migrate(link);
    } catch (error) {
      await link.close();
      throw new Error(`cannot open PostgreSQL at ${safeHost(url)}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new PostgresStore(link, options);
  }

  ledger<Row extends { ts: number }>(name: string): PostgresLedgerStore<Row> {
    const spool =
      this.#options.spoolDir === undefined
        ? undefined
        : new LedgerSpool(this.#options.spoolDir, `pg-${name}`);
    const ledger = new PostgresLedgerStore<Row>(this.link, name, {
      spool,
      replayIntervalMs: this.#options.replayIntervalMs,
      retention: this.#options.retention,
      retentionIntervalMs: this.#options.retentionIntervalMs,
    });
    this.#ledgers.add(ledger as unknown as PostgresLedgerStore<{ ts: number }>);
    return ledger;
  }

  kv(namespace: string): PostgresKvStore {
    const store = new PostgresKvStore(this.link, namespace);
    this.#namespaces.add(store);
    return store;
  }

  spoolStats(): { ledgerSpooled: number; ledgerReplayed: number } {
    return spoolTotals(this.#ledgers);
  }

  /** Replay every ledger's spooled rows now; resolves with how many went (tests, shutdown). */
  replaySpools(): Promise<number> {
    return replayAllSpools(this.#ledgers);
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    for (const ledger of this.#ledgers) await ledger.close();
    await this.link.close();
  }
}

function safeHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return 'the configured URL';
  }
}
