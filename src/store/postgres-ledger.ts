import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { isStoreUnavailable } from './errors.js';
import { ledgerRowMatches } from './ledger-match.js';
import { type LedgerRollupGroup, type LedgerRollupQuery, MultiRollup, ROLLUP_PAGE } from './ledger-rollup.js';
import {
  GRAIN_MS,
  ROLLUP_MEASURES,
  type StoredRollupFilter,
  type RollupGrain,
  type StoredRollupRow,
  rollupMeasures,
} from './ledger-stored-rollup.js';
import type { LedgerSpool, SpooledRow } from './ledger-spool.js';
import type { PostgresLink } from './postgres-link.js';
import type { LedgerStore } from './types.js';

export interface LedgerRetention {
  /** Raw rows older than this many days are deleted; 0 = kept forever. */
  rowsDays: number;
  /** Per-minute rollups older than this many days are deleted; 0 = kept forever. */
  minuteRollupDays: number;
  /** Per-day rollups older than this many days are deleted; 0 = kept forever. */
  dayRollupDays: number;
}

export interface PostgresLedgerOptions {
  /** Where rows wait while PostgreSQL is away; none = a failed write rejects. */
  spool?: LedgerSpool;
  /** How often spooled rows are retried; default 2 s. */
  replayIntervalMs?: number;
  retention?: LedgerRetention;
  /** How often retention runs; default hourly. */
  retentionIntervalMs?: number;
}

const DAY_MS = 86_400_000;
const DELETE_BATCH = 10_000;

/**
 * PostgreSQL refuses NUL in text and lone surrogates in JSON: such characters become U+FFFD in
 * the indexed columns (the row itself keeps them, escaped in its JSON text), and filters are
 * mapped the same way before an exact re-check in JS.
 */
const NOT_FOR_POSTGRES = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const pgText = (text: string): string => text.replace(NOT_FOR_POSTGRES, '\uFFFD');

/** The text a `where` filter compares for an indexed field: strings as is, numbers as decimal text. */
function indexedText(value: unknown): string | null {
  if (typeof value === 'string') return pgText(value);
  if (typeof value === 'number') return String(value);
  return null;
}

/** Fields with a column and an index of their own; other `where` fields are filtered in JS. */
const INDEXED = { user: 'user_name', team: 'team', model: 'model' } as const;

const RECORD_COLUMNS = [
  'id text',
  'ts float8',
  'data text',
  'user_name text',
  'team text',
  'model text',
  ...ROLLUP_MEASURES.map((measure) => `${measure} bigint`),
].join(', ');

function rollupUpsert(grain: RollupGrain): string {
  const ms = GRAIN_MS[grain];
  return `INSERT INTO ledger_rollups (ledger, grain, bucket, user_name, team, model, ${ROLLUP_MEASURES.join(', ')})
    SELECT $1, '${grain}', (floor(ts / ${ms}) * ${ms})::bigint, coalesce(user_name, ''), coalesce(team, ''),
           coalesce(model, ''), ${ROLLUP_MEASURES.map((m) => `sum(${m})`).join(', ')}
    FROM fresh GROUP BY 3, 4, 5, 6 ORDER BY 3, 4, 5, 6
    ON CONFLICT (ledger, grain, bucket, user_name, team, model) DO UPDATE SET
    ${ROLLUP_MEASURES.map((m) => `${m} = ledger_rollups.${m} + EXCLUDED.${m}`).join(', ')}`;
}

/**
 * One statement, so one transaction: insert the rows, skipping ids already stored, and add
 * only the rows actually inserted to the minute and day rollups. A replayed or repeated batch
 * therefore changes neither the rows nor the rollups. Rollup keys are upserted in key order,
 * so two instances' batches lock shared buckets in the same order (no deadlock between them).
 */
const INSERT_BATCH = `
WITH input AS (
  SELECT DISTINCT ON (id) * FROM jsonb_to_recordset($2::jsonb) AS t(${RECORD_COLUMNS})
), inserted AS (
  INSERT INTO ledger_rows (ledger, id, ts, user_name, team, model, data)
  SELECT $1, id, ts, user_name, team, model, data FROM input
  ON CONFLICT (ledger, id) DO NOTHING
  RETURNING id
), fresh AS (
  SELECT input.* FROM input JOIN inserted USING (id)
), minute AS (
  ${rollupUpsert('minute')}
)
${rollupUpsert('day')}`;

interface Stamped<Row> {
  id: string;
  row: Row;
}

/**
 * A ledger in PostgreSQL: one row per call (its JSON text, plus user / team / model columns
 * indexed with the time), and per-minute and per-day rollups kept in the same statement.
 *
 * Rows are written in one statement per event-loop turn. A row's id (`<instance>:<seq>`) is
 * its primary key, so writing it twice stores it once. While PostgreSQL is away (or a batch
 * loses a deadlock) the batch goes to the spool on disk and is replayed every
 * `replayIntervalMs` and before every query; a report therefore sees every row it can.
 */
export class PostgresLedgerStore<Row extends { ts: number }> implements LedgerStore<Row> {
  readonly #link: PostgresLink;
  readonly #name: string;
  readonly #instance = randomBytes(6).toString('hex');
  readonly #spool: LedgerSpool | undefined;
  readonly #retention: LedgerRetention | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  #seq = 0;
  #pending: Array<Stamped<Row>> = [];
  #batch: Promise<void> | undefined;
  /** Batches in flight (a query waits for them: it must see what was appended before it). */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(link: PostgresLink, name: string, options: PostgresLedgerOptions = {}) {
    this.#link = link;
    this.#name = name;
    this.#spool = options.spool;
    this.#retention = options.retention;
    if (this.#spool) {
      const replay = () => void this.replaySpool().catch(() => {});
      const timer = setInterval(replay, options.replayIntervalMs ?? 2_000);
      timer.unref();
      this.#timers.push(timer);
      // Rows a previous process left behind.
      setImmediate(replay);
    }
    if (this.#retention) {
      const sweep = () => void this.sweepRetention().catch(() => {});
      const timer = setInterval(sweep, options.retentionIntervalMs ?? 3_600_000);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  get spoolStats(): { spooled: number; replayed: number } {
    return { spooled: this.#spool?.spooled ?? 0, replayed: this.#spool?.replayed ?? 0 };
  }

  /** Resolves once the row is committed, or spooled to disk while PostgreSQL is away. */
  append(row: Row): Promise<void> {
    const seq = String(++this.#seq).padStart(12, '0');
    this.#pending.push({ id: `${this.#instance}:${seq}`, row });
    this.#batch ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const rows = this.#pending;
        this.#pending = [];
        this.#batch = undefined;
        const write = this.#writeOrSpool(rows);
        this.#inFlight.add(write);
        write.then(resolve, reject).finally(() => this.#inFlight.delete(write));
      });
    });
    return this.#batch;
  }

  async #writeOrSpool(rows: Array<Stamped<Row>>): Promise<void> {
    try {
      await this.#insert(rows);
    } catch (error) {
      if (!this.#spool || !(isStoreUnavailable(error) || isTransient(error))) throw error;
      await Promise.all(rows.map(({ id, row }) => this.#spool!.append(toSpooled(id, row))));
    }
  }

  async #insert(rows: ReadonlyArray<Stamped<Row>>): Promise<void> {
    if (rows.length === 0) return;
    const records = rows.map(({ id, row }) => {
      const fields = row as unknown as Record<string, unknown>;
      return {
        id,
        ts: row.ts,
        data: JSON.stringify(row),
        user_name: indexedText(fields.user),
        team: indexedText(fields.team),
        model: indexedText(fields.model),
        ...rollupMeasures(fields),
      };
    });
    await this.#link.query(INSERT_BATCH, [this.#name, JSON.stringify(records)]);
  }

  /**
   * Write spooled rows; resolves with how many went (0 when there were none or the database
   * is still away). One replay at a time; a call during one joins it.
   */
  replaySpool(): Promise<number> {
    const spool = this.#spool;
    if (!spool || !this.#link.available) return Promise.resolve(0);
    return spool.replay((rows) => this.#insert(rows.map(fromSpooled<Row>)));
  }

  async query(filter: {
    since: number;
    until?: number;
    where?: Partial<Record<keyof Row, string>>;
  }): Promise<Row[]> {
    await this.#settle();
    const values: unknown[] = [this.#name, filter.since];
    let sql = 'SELECT data FROM ledger_rows WHERE ledger = $1 AND ts >= $2';
    if (filter.until !== undefined && Number.isFinite(filter.until)) {
      values.push(filter.until);
      sql += ` AND ts < $${values.length}`;
    }
    const where = (filter.where ?? {}) as Record<string, string | undefined>;
    for (const [field, column] of Object.entries(INDEXED)) {
      const wanted = where[field];
      if (typeof wanted !== 'string') continue;
      values.push(pgText(wanted));
      sql += ` AND ${column} = $${values.length}`;
    }
    sql += ' ORDER BY ts, id';
    const result = await this.#link.query<{ data: string }>(sql, values);
    const rows: Row[] = [];
    for (const { data } of result.rows) {
      const row = JSON.parse(data) as Row;
      if (ledgerRowMatches(row as unknown as Record<string, unknown>, where)) rows.push(row);
    }
    return rows;
  }

  /**
   * Grouped sums computed from the rows (the dashboard's queries): the range in pages by
   * (ts, id) through the (ledger, ts) index, as the other backends scan theirs.
   */
  async rollup(queries: readonly LedgerRollupQuery[]): Promise<LedgerRollupGroup[][]> {
    const rollup = new MultiRollup(queries);
    await this.#settle();
    let afterTs = rollup.since;
    let afterId = '';
    for (;;) {
      const page = await this.#link.query<{ id: string; ts: number; data: string }>(
        `SELECT id, ts, data FROM ledger_rows
         WHERE ledger = $1 AND (ts > $2 OR (ts = $2 AND id > $3)) AND ts < $4
         ORDER BY ts, id LIMIT ${ROLLUP_PAGE}`,
        [this.#name, afterTs, afterId, rollup.until],
      );
      for (const r of page.rows) rollup.add(JSON.parse(r.data));
      if (page.rows.length < ROLLUP_PAGE) break;
      afterTs = page.rows[page.rows.length - 1].ts;
      afterId = page.rows[page.rows.length - 1].id;
    }
    return rollup.result();
  }

  /** Rollup buckets in `[since, until)`, oldest first: what reports and dashboards read at scale. */
  async storedRollups(filter: StoredRollupFilter): Promise<StoredRollupRow[]> {
    await this.#settle();
    const values: unknown[] = [this.#name, filter.grain, filter.since];
    let sql = `SELECT bucket, user_name, team, model, ${ROLLUP_MEASURES.join(', ')} FROM ledger_rollups
      WHERE ledger = $1 AND grain = $2 AND bucket >= $3`;
    if (filter.until !== undefined && Number.isFinite(filter.until)) {
      values.push(filter.until);
      sql += ` AND bucket < $${values.length}`;
    }
    for (const [field, column] of Object.entries(INDEXED)) {
      const wanted = filter.where?.[field as keyof typeof INDEXED];
      if (wanted === undefined) continue;
      values.push(pgText(wanted));
      sql += ` AND ${column} = $${values.length}`;
    }
    sql += ' ORDER BY bucket, user_name, team, model';
    const result = await this.#link.query<Record<string, string>>(sql, values);
    return result.rows.map((r) => {
      const out: Record<string, unknown> = {
        bucket: Number(r.bucket),
        user: r.user_name,
        team: r.team === '' ? null : r.team,
        model: r.model,
      };
      for (const measure of ROLLUP_MEASURES) out[measure] = Number(r[measure]);
      return out as unknown as StoredRollupRow;
    });
  }

  /** Delete what the retention setting no longer keeps; returns rows and rollups deleted. */
  async sweepRetention(now = Date.now()): Promise<{ rows: number; rollups: number }> {
    const retention = this.#retention;
    if (!retention) return { rows: 0, rollups: 0 };
    let rows = 0;
    let rollups = 0;
    if (retention.rowsDays > 0) {
      rows = await this.#deleteBatched(
        'ledger_rows',
        'ledger = $1 AND ts < $2',
        now - retention.rowsDays * DAY_MS,
      );
    }
    for (const [grain, days] of [
      ['minute', retention.minuteRollupDays],
      ['day', retention.dayRollupDays],
    ] as const) {
      if (days <= 0) continue;
      rollups += await this.#deleteBatched(
        'ledger_rollups',
        `ledger = $1 AND grain = '${grain}' AND bucket < $2`,
        now - days * DAY_MS,
      );
    }
    return { rows, rollups };
  }

  /** Deletes in bounded batches: a year of rows going at once would hold locks and bloat WAL. */
  async #deleteBatched(table: string, condition: string, before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.#link.query(
        `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE ${condition} LIMIT ${DELETE_BATCH})`,
        [this.#name, before],
      );
      total += result.rowCount ?? 0;
      if ((result.rowCount ?? 0) < DELETE_BATCH) return total;
    }
  }

  /** Let appended rows land (batch in flight, spooled rows replayed when possible). */
  async #settle(): Promise<void> {
    await this.#batch?.catch(() => {});
    await Promise.all([...this.#inFlight].map((write) => write.catch(() => {})));
    await this.replaySpool().catch(() => 0);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    await this.#settle();
    await this.#spool?.close();
  }
}

/** Deadlock or serialization failure: the batch did not run and may be retried as it is. */
function isTransient(error: unknown): boolean {
  return error instanceof pg.DatabaseError && (error.code ?? '').startsWith('40');
}

const toSpooled = (id: string, row: { ts: number }): SpooledRow => ({
  score: row.ts,
  member: `${id}\n${JSON.stringify(row)}`,
});

function fromSpooled<Row>(spooled: SpooledRow): Stamped<Row> {
  const cut = spooled.member.indexOf('\n');
  return { id: spooled.member.slice(0, cut), row: JSON.parse(spooled.member.slice(cut + 1)) as Row };
}
