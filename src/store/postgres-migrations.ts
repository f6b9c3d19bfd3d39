import type { PostgresLink } from './postgres-link.js';

/**
 * The PostgreSQL schema as numbered steps. A step is never edited once released: a change is a
 * new step. Each runs in its own transaction together with its row in `schema_migrations`, under
 * a transaction-scoped advisory lock, so instances booting together apply each step once.
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'ledger rows, rollups, durable kv',
    sql: `
CREATE TABLE ledger_rows (
  ledger text NOT NULL,
  id text NOT NULL,
  ts double precision NOT NULL,
  user_name text,
  team text,
  model text,
  data text NOT NULL,
  PRIMARY KEY (ledger, id)
);
CREATE INDEX ledger_rows_ts ON ledger_rows (ledger, ts);
CREATE INDEX ledger_rows_user ON ledger_rows (ledger, user_name, ts);
CREATE INDEX ledger_rows_team ON ledger_rows (ledger, team, ts) WHERE team IS NOT NULL;
CREATE INDEX ledger_rows_model ON ledger_rows (ledger, model, ts);

CREATE TABLE ledger_rollups (
  ledger text NOT NULL,
  grain text NOT NULL CHECK (grain IN ('minute', 'day')),
  bucket bigint NOT NULL,
  user_name text NOT NULL,
  team text NOT NULL,
  model text NOT NULL,
  requests bigint NOT NULL,
  errors bigint NOT NULL,
  cost_nano bigint NOT NULL,
  unpriced bigint NOT NULL,
  avoided_nano bigint NOT NULL,
  saved_nano bigint NOT NULL,
  exact_hits bigint NOT NULL,
  semantic_hits bigint NOT NULL,
  coalesced bigint NOT NULL,
  input_tokens bigint NOT NULL,
  cache_read_tokens bigint NOT NULL,
  cache_write_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  estimated bigint NOT NULL,
  latency_ms bigint NOT NULL,
  PRIMARY KEY (ledger, grain, bucket, user_name, team, model)
);

CREATE TABLE kv_entries (
  ns text NOT NULL,
  key text NOT NULL,
  value bytea NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (ns, key)
);
CREATE INDEX kv_entries_expiry ON kv_entries (expires_at) WHERE expires_at > 0;
`,
  },
];

/** Any constant shared by every Sluice instance: the advisory lock that serialises migrations. */
const MIGRATION_LOCK = 0x51_75_1c_e0;

/** Bring the schema up to date; returns the versions applied now (none when already current). */
export async function migrate(link: PostgresLink): Promise<number[]> {
  const client = await link.pool.connect();
  const applied: number[] = [];
  try {
    for (const step of MIGRATIONS) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        // Under the lock: instances booting together would race on creating it.
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY,
          name text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
        const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [step.version]);
        if (done.rowCount === 0) {
          await client.query(step.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
            step.version,
            step.name,
          ]);
          applied.push(step.version);
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    }
  } finally {
    client.release();
  }
  return applied;
}
