/**
 * PostgreSQL ledger sizing: inserts N usage rows (batches of 200, as a busy gateway writes them)
 * into a throw-away server and prints insert rate, bytes per row and query times.
 * `npx tsx bench/ledger-postgres.ts [rows]` (needs Debian's postgresql installed).
 */
import { randomUUID } from 'node:crypto';
import { PostgresStore } from '../src/store/postgres.js';
import { postgresServerMissing, startPostgresProcess } from '../test/postgres-process.js';

const missing = postgresServerMissing();
if (missing) {
  console.error(missing);
  process.exit(1);
}
const rowsWanted = Number(process.argv[2] ?? 50_000);
const server = await startPostgresProcess();
const store = await PostgresStore.connect(server.url);
try {
  const ledger = store.ledger<{ ts: number; user: string } & Record<string, unknown>>('usage');
  const base = Date.UTC(2025, 0, 1);
  const models = ['gpt-4o-mini', 'claude-3-5-haiku-latest', 'gpt-4o', 'claude-sonnet-4'];
  const started = performance.now();
  let batch: Promise<void>[] = [];
  for (let i = 0; i < rowsWanted; i++) {
    batch.push(
      ledger.append({
        ts: base + i * 1700,
        requestId: randomUUID(),
        user: `user-${i % 200}`,
        team: `team-${i % 10}`,
        keyId: 'vk_0123456789abcdef',
        tier: 'default',
        route: 'chat',
        requestedModel: models[i % 4],
        model: models[i % 4],
        upstream: 'openai',
        inputTokens: 812,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: 143,
        usageEstimated: false,
        costUsd: 0.000207,
        costAvoidedUsd: 0,
        promptCacheSavedUsd: 0,
        cache: 'miss',
        latencyMs: 912,
        status: 200,
        outcome: 'ok',
        stream: false,
      }),
    );
    if (batch.length === 200) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  const insertMs = performance.now() - started;
  const size = await store.link.query<{ rows: string; rollups: string; buckets: string }>(
    `SELECT pg_total_relation_size('ledger_rows') AS rows, pg_total_relation_size('ledger_rollups') AS rollups,
            (SELECT count(*) FROM ledger_rollups) AS buckets`,
  );
  const week = { since: base, until: base + 7 * 86_400_000, where: { user: 'user-7' } };
  const q0 = performance.now();
  const userRows = await ledger.query(week);
  const q1 = performance.now();
  const userDays = await ledger.storedRollups({ grain: 'day', ...week });
  const q2 = performance.now();
  console.log(
    JSON.stringify({
      rows: rowsWanted,
      insertRowsPerSecond: Math.round((rowsWanted / insertMs) * 1000),
      bytesPerRow: Math.round(Number(size.rows[0].rows) / rowsWanted),
      rollupRows: Number(size.rows[0].buckets),
      rollupBytes: Number(size.rows[0].rollups),
      userWeek: {
        rows: userRows.length,
        queryMs: Math.round(q1 - q0),
        dayRollups: userDays.length,
        rollupMs: Math.round(q2 - q1),
      },
    }),
  );
} finally {
  await store.close();
  await server.dispose();
}
