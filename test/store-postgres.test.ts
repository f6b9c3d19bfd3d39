import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { LedgerRow } from '../src/cost/ledger.js';
import { usageReport } from '../src/cost/report.js';
import { isStoreUnavailable, openBackend } from '../src/store/index.js';
import {
  GRAIN_MS,
  ROLLUP_MEASURES,
  type StoredRollupRow,
  rollupMeasures,
} from '../src/store/ledger-stored-rollup.js';
import { PostgresStore } from '../src/store/postgres.js';
import { MIGRATIONS } from '../src/store/postgres-migrations.js';
import {
  type PostgresProcess,
  postgresServerMissing,
  startPostgresProcess,
  startTestPostgres,
} from './postgres-process.js';
import { backendSuite } from './store-backend-suite.js';

/**
 * PostgreSQL (`DATABASE_URL`): the shared store contract with PostgreSQL holding ledgers and
 * durable namespaces (hot state embedded), then what only PostgreSQL does: rollups that equal
 * the rows, retention, migrations, and an outage that loses and doubles no row.
 */

backendSuite('postgres (ledgers and durable kv) + embedded hot state', async () => {
  const database = await startTestPostgres();
  if ('skip' in database) return database;
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-pg-store-'));
  return {
    open: () => openBackend({ dataDir, databaseUrl: database.url }),
    durable: true,
    async cleanup() {
      await database.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

const DAY = 86_400_000;

/** A deterministic spread of usage rows over users, teams, models, minutes and days. */
function usageRows(count: number, start: number, seed = 7): LedgerRow[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  return Array.from({ length: count }, (_, i) => {
    const cache = pick(['miss', 'exact', 'semantic', 'bypass'] as const);
    const priced = next() > 0.15;
    return {
      ts: start + Math.floor(next() * 3 * DAY) + i,
      requestId: `req-${i}`,
      user: pick(['ann', 'bob', 'cé\u0000line', 'dan\uD800']),
      team: pick(['red', 'blue', undefined]),
      route: 'chat',
      requestedModel: 'auto',
      model: pick(['gpt-4o-mini', 'claude-haiku', 'local']),
      inputTokens: Math.floor(next() * 5000),
      cacheReadTokens: Math.floor(next() * 100),
      cacheWriteTokens: Math.floor(next() * 50),
      outputTokens: Math.floor(next() * 800),
      usageEstimated: next() > 0.9,
      costUsd: priced ? next() * 0.01 : null,
      costAvoidedUsd: cache === 'miss' ? 0 : next() * 0.002,
      promptCacheSavedUsd: next() * 0.001 - 0.0002,
      cache,
      latencyMs: Math.floor(next() * 2000),
      status: 200,
      outcome: pick(['ok', 'ok', 'ok', 'error'] as const),
      stream: next() > 0.5,
      coalesced: next() > 0.95,
    } satisfies LedgerRow;
  });
}

/** The rollups a set of rows should have, computed in JS from the rows themselves. */
function expectedRollups(rows: readonly LedgerRow[], grainMs: number): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const row of rows) {
    const clean = (s: string | undefined) =>
      (s ?? '').replace(
        /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
        '\uFFFD',
      );
    const key = JSON.stringify([
      Math.floor(row.ts / grainMs) * grainMs,
      clean(row.user),
      clean(row.team),
      row.model,
    ]);
    const sums = out.get(key) ?? Object.fromEntries(ROLLUP_MEASURES.map((m) => [m, 0]));
    const measures = rollupMeasures(row as unknown as Record<string, unknown>);
    for (const m of ROLLUP_MEASURES) sums[m] += measures[m];
    out.set(key, sums);
  }
  return out;
}

function asMap(rollups: readonly StoredRollupRow[]): Map<string, Record<string, number>> {
  return new Map(
    rollups.map((r) => [
      JSON.stringify([r.bucket, r.user, r.team ?? '', r.model]),
      Object.fromEntries(ROLLUP_MEASURES.map((m) => [m, r[m]])),
    ]),
  );
}

describe('postgres specifics', async () => {
  const missing = process.env.DATABASE_URL ? undefined : postgresServerMissing();
  if (missing) {
    it('is skipped', { skip: `PostgreSQL suite SKIPPED: no DATABASE_URL and ${missing}` }, () => {});
    return;
  }
  let url: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    const database = await startTestPostgres();
    if ('skip' in database) throw new Error(database.skip);
    url = database.url;
    cleanup = database.cleanup;
  });
  after(async () => cleanup());

  it('rollups per minute and per day equal the sums of the raw rows, to the nano-dollar', async () => {
    const store = await PostgresStore.connect(url);
    try {
      const ledger = store.ledger<LedgerRow>('rollup-check');
      const start = Date.UTC(2025, 0, 10, 23, 0);
      const rows = usageRows(1500, start);
      await Promise.all(rows.map((row) => ledger.append(row)));
      const stored = await ledger.query({ since: 0 });
      assert.equal(stored.length, rows.length);
      for (const [grain, ms] of Object.entries(GRAIN_MS) as Array<['minute' | 'day', number]>) {
        const rollups = await ledger.storedRollups({ grain, since: 0 });
        assert.deepEqual(asMap(rollups), expectedRollups(stored, ms), `${grain} rollups`);
      }
      // The report summed from rows agrees with the day rollups it could be read from instead.
      // Rows span Jan 10 23:00 + 3 days: four calendar days.
      const report = await usageReport(ledger, { days: 4, now: start + 3 * DAY, detailed: true });
      assert.equal(report.totals.requests, rows.length);
      const days = await ledger.storedRollups({ grain: 'day', since: 0 });
      const sum = (m: (typeof ROLLUP_MEASURES)[number]) => days.reduce((total, r) => total + r[m], 0);
      assert.equal(report.totals.requests, sum('requests'));
      assert.equal(Math.round(report.totals.cost_usd * 1e9), sum('cost_nano'));
      assert.equal(report.totals.tokens.input, sum('input_tokens'));
      assert.equal(report.totals.cache_hits.exact, sum('exact_hits'));
      // Filters use the indexed columns, then the exact rule (NUL and lone surrogates included).
      const celine = await ledger.query({ since: 0, where: { user: 'cé\u0000line', model: 'local' } });
      assert.deepEqual(
        celine,
        stored.filter((r) => r.user === 'cé\u0000line' && r.model === 'local'),
      );
      assert.ok(celine.length > 0);
      const dan = await ledger.storedRollups({ grain: 'day', since: 0, where: { user: 'dan\uD800' } });
      assert.equal(
        dan.reduce((n, r) => n + r.requests, 0),
        stored.filter((r) => r.user === 'dan\uD800').length,
      );
    } finally {
      await store.close();
    }
  });

  it('retention deletes rows and minute rollups past their age and keeps the rest', async () => {
    const store = await PostgresStore.connect(url, {
      retention: { rowsDays: 7, minuteRollupDays: 2, dayRollupDays: 0 },
    });
    try {
      const ledger = store.ledger<LedgerRow>('retention-check');
      const now = Date.UTC(2025, 5, 30, 12, 0);
      const old = usageRows(40, now - 20 * DAY, 1);
      const middle = usageRows(40, now - 5 * DAY, 2);
      const fresh = usageRows(40, now - DAY / 2, 3).map((r) => ({ ...r, ts: Math.min(r.ts, now - 1) }));
      await Promise.all([...old, ...middle, ...fresh].map((row) => ledger.append(row)));
      const swept = await ledger.sweepRetention(now);
      assert.equal(swept.rows, old.length);
      const kept = await ledger.query({ since: 0 });
      assert.equal(kept.length, middle.length + fresh.length);
      assert.ok(kept.every((r) => r.ts >= now - 7 * DAY));
      const minutes = await ledger.storedRollups({ grain: 'minute', since: 0 });
      assert.ok(minutes.length > 0);
      assert.ok(minutes.every((r) => r.bucket >= now - 2 * DAY));
      const days = await ledger.storedRollups({ grain: 'day', since: 0 });
      assert.equal(
        days.reduce((n, r) => n + r.requests, 0),
        old.length + middle.length + fresh.length,
        'day rollups are kept (dayRollupDays 0 = forever), old days included',
      );
    } finally {
      await store.close();
    }
  });

  it('migrations run once however many instances boot together', async () => {
    const stores = await Promise.all([1, 2, 3].map(() => PostgresStore.connect(url)));
    try {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY version',
      );
      await client.end();
      assert.deepEqual(
        rows.map((r) => r.version),
        MIGRATIONS.map((m) => m.version),
      );
    } finally {
      for (const store of stores) await store.close();
    }
  });
});

describe('postgres outage: spooled rows are replayed once, durable kv fails closed', async () => {
  const missing = postgresServerMissing();
  if (missing) {
    it('is skipped', { skip: `PostgreSQL outage suite SKIPPED: ${missing}` }, () => {});
    return;
  }
  let server: PostgresProcess;
  let dataDir: string;
  before(async () => {
    server = await startPostgresProcess();
    dataDir = mkdtempSync(join(tmpdir(), 'sluice-pg-outage-'));
  });
  after(async () => {
    await server.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rows written while the server is down are on disk, replayed after, and never doubled', async () => {
    const spoolDir = join(dataDir, 'spool');
    const store = await PostgresStore.connect(server.url, { spoolDir, replayIntervalMs: 200_000 });
    try {
      const ledger = store.ledger<LedgerRow>('outage');
      const before = usageRows(20, Date.UTC(2025, 2, 1), 11);
      await Promise.all(before.map((row) => ledger.append(row)));
      await server.stop();
      const during = usageRows(30, Date.UTC(2025, 2, 2), 12);
      await Promise.all(during.map((row) => ledger.append(row)));
      assert.equal(store.spoolStats().ledgerSpooled, during.length);
      assert.equal(store.link.healthy, false);
      const kv = store.kv('auth-keys');
      await assert.rejects(kv.get('vk_x'), isStoreUnavailable);

      // Keep a copy of the spool as it was, to replay it a second time below.
      const spooled = readdirSync(spoolDir);
      assert.ok(spooled.length > 0);
      for (const name of spooled) copyFileSync(join(spoolDir, name), join(dataDir, `copy-${name}`));

      await server.start();
      assert.equal(await store.link.probe(), true);
      assert.equal(await store.replaySpools(), during.length);
      const afterOutage = await ledger.query({ since: 0 });
      assert.equal(afterOutage.length, before.length + during.length);
      assert.deepEqual(
        afterOutage.map((r) => r.requestId).sort(),
        [...before, ...during].map((r) => r.requestId).sort(),
      );

      // The same spool once more, as a file left by a dead process (e.g. one that crashed after
      // its replay committed but before it deleted the file): adopted, replayed, changes nothing.
      for (const name of spooled) {
        const orphan = name.replace(/^([^.]+)\.\d+\./, '$1.999999999.');
        copyFileSync(join(dataDir, `copy-${name}`), join(spoolDir, orphan));
      }
      assert.equal(await store.replaySpools(), during.length);
      assert.equal((await ledger.query({ since: 0 })).length, before.length + during.length);
      const days = await ledger.storedRollups({ grain: 'day', since: 0 });
      assert.equal(
        days.reduce((n, r) => n + r.requests, 0),
        before.length + during.length,
      );
    } finally {
      await store.close();
    }
  });
});
