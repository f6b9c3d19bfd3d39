import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Backend, openBackend } from '../src/store/index.js';
import { type LedgerRollupQuery, nearestRank } from '../src/store/ledger-rollup.js';
import type { LedgerStore } from '../src/store/types.js';
import { startTestPostgres } from './postgres-process.js';
import { redisBackendHarness } from './store-redis-server.js';

/**
 * The ledger rollup gives the same groups, sums and quantiles on every backend (each a paged
 * range scan), and they equal what the rows say when summed by hand.
 */

interface TestRow {
  ts: number;
  user: string;
  cache: string;
  latencyMs: number;
  costUsd: number | null;
  saved: number;
  note?: boolean;
}

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

/** A deterministic pseudo-random ledger: 2500 rows over an hour (more than one Redis page). */
function makeRows(): TestRow[] {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const rows: TestRow[] = [];
  for (let i = 0; i < 2500; i++) {
    rows.push({
      // Some rows share a timestamp, so pages split inside a run of equal scores.
      ts: T0 + Math.floor((rand() * 3_600_000) / 7) * 7,
      user: ['ann', 'bo', 'cy'][Math.floor(rand() * 3)],
      cache: ['exact', 'semantic', 'miss'][Math.floor(rand() * 3)],
      latencyMs: Math.round(rand() * 2000 * 10) / 10,
      costUsd: rand() < 0.1 ? null : Math.round(rand() * 1e6) / 1e9,
      saved: Math.round((rand() - 0.5) * 1e5) / 1e9,
      ...(rand() < 0.2 ? { note: true } : {}),
    });
  }
  return rows;
}

const QUERY: LedgerRollupQuery = {
  since: T0,
  until: T0 + 3_600_000,
  bucketMs: 60_000,
  by: ['cache'],
  sums: [{ field: 'costUsd', scale: 1e9 }, { field: 'latencyMs' }, { field: 'saved', scale: 1e9 }],
  quantiles: { field: 'latencyMs', ps: [0.5, 0.9, 0.99] },
};

describe('ledger rollup', async () => {
  const rows = makeRows();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-rollup-'));
  const redis = await redisBackendHarness();
  const postgres = await startTestPostgres();
  const backends: Array<[string, Backend]> = [];
  const ledgers = new Map<string, LedgerStore<TestRow>>();

  before(async () => {
    backends.push(['memory', await openBackend({ dataDir: '', memory: true })]);
    backends.push(['sqlite', await openBackend({ dataDir: dir })]);
    if (!('skip' in redis)) backends.push(['redis', await redis.open()]);
    if (!('skip' in postgres)) {
      backends.push([
        'postgres',
        await openBackend({ dataDir: dir, memory: true, databaseUrl: postgres.url }),
      ]);
    }
    for (const [name, backend] of backends) {
      const ledger = backend.ledger<TestRow>('rollup');
      await Promise.all(rows.map((r) => ledger.append(r)));
      ledgers.set(name, ledger);
    }
  });
  after(async () => {
    for (const [, backend] of backends) await backend.close();
    if (!('skip' in redis)) await redis.cleanup();
    if (!('skip' in postgres)) await postgres.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('matches sums and nearest-rank quantiles computed from the rows by hand', async () => {
    const [got] = await ledgers.get('memory')!.rollup([QUERY]);
    const minute = 17;
    const inMinute = rows.filter((r) => r.cache === 'miss' && Math.floor((r.ts - T0) / 60_000) === minute);
    const group = got.find((g) => g.bucket === minute && g.keys[0] === 'miss');
    assert.ok(group && inMinute.length > 0);
    assert.equal(group.count, inMinute.length);
    const nano = inMinute.reduce((s, r) => s + (r.costUsd === null ? 0 : Math.round(r.costUsd * 1e9)), 0);
    assert.equal(group.sums[0], nano);
    const sorted = inMinute.map((r) => r.latencyMs).sort((a, b) => a - b);
    assert.deepEqual(
      group.quantiles,
      [0.5, 0.9, 0.99].map((p) => sorted[nearestRank(p, sorted.length) - 1]),
    );
    assert.equal(
      got.reduce((s, g) => s + g.count, 0),
      rows.length,
      'every row in exactly one group',
    );
  });

  it('gives the same answer on every backend', async (t) => {
    if ('skip' in redis) t.diagnostic(redis.skip);
    if ('skip' in postgres) t.diagnostic(postgres.skip);
    const expected = await ledgers.get('memory')!.rollup([QUERY]);
    for (const [name, ledger] of ledgers) {
      assert.deepEqual(await ledger.rollup([QUERY]), expected, `${name} equals memory`);
    }
  });

  it('applies where filters, groups by absent fields as null and sums a whole range in one bucket', async () => {
    const q: LedgerRollupQuery = {
      since: T0,
      until: T0 + 3_600_000,
      bucketMs: 3_600_000,
      by: ['note'],
      sums: [{ field: 'latencyMs' }],
      where: { user: 'bo' },
    };
    // Asked together with QUERY: one scan answers both, each as if asked alone.
    const [whole, perMinute] = await ledgers.get('memory')!.rollup([q, QUERY]);
    assert.equal(whole.length, 1, 'booleans are no group key: every row falls under null');
    assert.deepEqual(whole[0].keys, [null]);
    assert.equal(whole[0].count, rows.filter((r) => r.user === 'bo').length);
    assert.deepEqual([perMinute], await ledgers.get('memory')!.rollup([QUERY]));
    for (const [name, ledger] of ledgers)
      assert.deepEqual(await ledger.rollup([q, QUERY]), [whole, perMinute], name);
  });

  it('refuses a range cut into too many buckets', async () => {
    await assert.rejects(
      ledgers.get('sqlite')!.rollup([{ ...QUERY, bucketMs: 1, until: T0 + 10_000_000 }]),
      RangeError,
    );
  });
});
