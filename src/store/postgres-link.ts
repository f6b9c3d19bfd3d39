import pg from 'pg';
import { StoreUnavailableError } from './errors.js';

/**
 * SQLSTATE classes that mean "the server cannot serve now", not "the statement is wrong":
 * 08 connection exception, 53 insufficient resources (too many connections, disk full),
 * 57 operator intervention (shutdown, starting up, statement timeout), 58 system error.
 */
const UNAVAILABLE_CLASS = /^(08|53|57|58)/;

/** After a failure, fail at once for this long instead of paying a connect timeout per call. */
const DOWN_COOLDOWN_MS = 1_000;

export interface PostgresLinkOptions {
  /** Give up a connection attempt after this long; default 2000 ms. */
  connectTimeoutMs?: number;
  /** A statement unanswered after this long fails as unavailable; default 5000 ms. */
  statementTimeoutMs?: number;
  /** Pool size per gateway instance; default 10. */
  maxConnections?: number;
  now?: () => number;
}

/**
 * The pg Pool with the failure rules every PostgreSQL store shares (the same as `RedisLink`'s):
 * a statement that cannot reach the server (refused, reset, timed out, server shutting down or
 * starting) throws `StoreUnavailableError`; a statement that is our own bug (syntax, constraint)
 * stays what it is. After such a failure calls fail at once for a second, so a dead database
 * costs a request one connect timeout at most, not one per statement.
 */
export class PostgresLink {
  readonly pool: pg.Pool;
  readonly #now: () => number;
  #downUntil = 0;
  #failures = 0;
  #healthy = true;

  constructor(url: string, options: PostgresLinkOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 2_000,
      // Client-side: a stalled server (SIGSTOP, network partition) would not run a server timeout.
      query_timeout: options.statementTimeoutMs ?? 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'sluice',
    });
    // An idle client whose server went away emits here; the next statement reports it.
    this.pool.on('error', () => {});
  }

  /** False from a failed statement until the next one that succeeds (`/healthz`). */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Whether a statement would be tried now (not in the cooldown after a failure). */
  get available(): boolean {
    return this.#now() >= this.#downUntil;
  }

  /** Statements that failed because the database was away, since start (stats). */
  get failures(): number {
    return this.#failures;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.run((client) => client.query<R>(text, values));
  }

  /** Run `op` against the pool under the failure rules above. */
  async run<T>(op: (pool: pg.Pool) => Promise<T>): Promise<T> {
    if (this.#now() < this.#downUntil) {
      this.#failures++;
      throw new StoreUnavailableError('PostgreSQL is not answering (a recent statement failed)');
    }
    try {
      const result = await op(this.pool);
      this.#healthy = true;
      return result;
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      this.#failures++;
      this.#healthy = false;
      this.#downUntil = this.#now() + DOWN_COOLDOWN_MS;
      throw new StoreUnavailableError(`PostgreSQL unavailable: ${(error as Error).message}`, {
        cause: error,
        maybeApplied: true,
      });
    }
  }

  /** Try the database now, ignoring the cooldown; updates `healthy`. */
  async probe(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      this.#healthy = true;
      this.#downUntil = 0;
      return true;
    } catch {
      this.#healthy = false;
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof TypeError || error instanceof RangeError) return false;
  // The server answered with a SQLSTATE; anything else is the socket, the pool or a timeout.
  if (error instanceof pg.DatabaseError) return UNAVAILABLE_CLASS.test(error.code ?? '');
  return true;
}
