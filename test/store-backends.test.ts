import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { type Backend, openBackend } from '../src/store/index.js';
import { MemoryCounterStore, MemoryKvStore, MemoryLedgerStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { backendSuite, bytes } from './store-backend-suite.js';
import { redisBackendHarness } from './store-redis-server.js';

/**
 * The shared suite (`store-backend-suite.ts`) against memory, the embedded default (memory front
 * + SQLite) and Redis; PostgreSQL runs it in `store-postgres.test.ts`. Then each backend's
 * specifics.
 */

backendSuite('memory', async () => ({
  open: () => openBackend({ dataDir: '', memory: true }),
  durable: false,
  cleanup: async () => {},
}));

backendSuite('sqlite (memory front + SQLite)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
  return {
    open: () => openBackend({ dataDir }),
    durable: true,
    cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});

backendSuite('sqlite alone (no memory front)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
  const file = join(dataDir, 'bare.db');
  return {
    async open(): Promise<Backend> {
      const sqlite = new SqliteStore(file);
      return {
        kind: 'sqlite',
        // Group-committed, as the embedded backend's caches are: reads must see pending writes.
        kv: (ns, limits) => sqlite.kv(ns, limits, {}, { groupCommit: true }),
        counters: sqlite.counters,
        durableKv: (ns) => sqlite.kv(ns),
        ledger: (name) => sqlite.ledger(name),
        health: () => ({}),
        close: () => sqlite.close(),
      };
    },
    durable: true,
    cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});

backendSuite('redis', redisBackendHarness);

describe('store: durable namespaces', () => {
  it('are opened once, and not again as a size-limited namespace', async () => {
    const backend = await openBackend({ dataDir: '', memory: true });
    const kv = backend.durableKv('auth-keys');
    assert.equal(backend.durableKv('auth-keys'), kv);
    assert.throws(() => backend.kv('auth-keys', { maxEntries: 3 }), /already opened/);
    await backend.close();
  });
});

describe('store: memory specifics', () => {
  it('sweep drops expired entries without reads', async () => {
    let now = 1_000;
    const kv = new MemoryKvStore({ now: () => now, sweepIntervalMs: 0 });
    await kv.set('a', bytes('1'), 1);
    await kv.set('b', bytes('22'), 0);
    now += 1_500;
    kv.sweep();
    assert.equal(kv.size, 1);
    assert.equal(kv.bytes, 2);
    await kv.close();
  });

  it('counters and ledger honour an injected clock', async () => {
    let now = 0;
    const counters = new MemoryCounterStore({ now: () => now });
    await counters.add('k', 1, 10);
    now = 9_999;
    assert.deepEqual(await counters.get(['k']), [1]);
    now = 10_000;
    assert.deepEqual(await counters.get(['k']), [0]);
    const ledger = new MemoryLedgerStore<{ ts: number }>();
    await ledger.append({ ts: 5 });
    await ledger.append({ ts: 1 });
    await ledger.append({ ts: 5 });
    assert.deepEqual(await ledger.query({ since: 0 }), [{ ts: 1 }, { ts: 5 }, { ts: 5 }]);
  });
});

describe('store: sqlite specifics', () => {
  it('reports the keys its LRU eviction removed (the memory front drops them too)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
    const sqlite = new SqliteStore(join(dataDir, 'evict.db'), { sweepIntervalMs: 0 });
    try {
      const evicted: string[] = [];
      const kv = sqlite.kv('ns', { maxEntries: 2 }, { onEvict: (keys) => evicted.push(...keys) });
      await kv.set('a', bytes('1'), 60);
      await kv.set('b', bytes('2'), 60);
      kv.markUsed(['a']);
      await kv.set('c', bytes('3'), 60);
      assert.deepEqual(evicted, ['b']);
    } finally {
      await sqlite.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('groups cache writes into one commit, and every read sees them before it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
    const file = join(dataDir, 'group.db');
    const sqlite = new SqliteStore(file, { sweepIntervalMs: 0 });
    const other = new Database(file, { readonly: true });
    const committedRows = () => (other.prepare('SELECT count(*) AS n FROM kv').get() as { n: number }).n;
    try {
      const evicted: string[] = [];
      const kv = sqlite.kv(
        'ns',
        { maxEntries: 3 },
        { onEvict: (keys) => evicted.push(...keys) },
        { groupCommit: true },
      );
      // A first write loads the totals, which commits it; the next ones wait for the group commit.
      await kv.set('a', bytes('1'), 60);
      await kv.set('b', bytes('22'), 60);
      await kv.set('c', bytes('333'), 60);
      assert.equal(committedRows(), 1);
      assert.equal(Buffer.from((await kv.get('b'))!).toString(), '22');
      assert.equal((await kv.getEntry('c'))?.value.byteLength, 3);
      assert.equal(await kv.touch('c', 120), true);
      assert.equal(await kv.delete('b'), true);
      assert.equal(await kv.get('b'), undefined);

      // Counters never wait for the KV group commit: budgets hold after a crash.
      await sqlite.counters.add('budget', 5, 0);
      assert.equal((other.prepare('SELECT value FROM counters').get() as { value: number }).value, 5);
      assert.equal(committedRows(), 1);

      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(committedRows(), 2);

      // Eviction sees every use: 'c' was touched after 'a' was written, but 'a' was used since.
      await kv.set('d', bytes('4'), 60);
      kv.markUsed(['a']);
      await kv.set('e', bytes('5'), 60);
      assert.deepEqual(evicted, ['c']);
      assert.deepEqual((await kv.get('a'))?.length, 1);
      const listed: string[] = [];
      for await (const key of kv.keys('')) listed.push(key);
      assert.deepEqual(listed.sort(), ['a', 'd', 'e']);
    } finally {
      other.close();
      await sqlite.close();
    }
    const reopened = new SqliteStore(file, { sweepIntervalMs: 0 });
    try {
      const kv = reopened.kv('ns', { maxEntries: 3 }, {}, { groupCommit: true });
      await kv.set('f', bytes('6'), 60);
      await reopened.close();
      const again = new SqliteStore(file, { sweepIntervalMs: 0 });
      assert.equal(
        Buffer.from((await again.kv('ns').get('f'))!).toString(),
        '6',
        'close commits pending writes',
      );
      await again.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('sweeps expired rows in bulk', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
    let now = 1_000_000;
    const sqlite = new SqliteStore(join(dataDir, 'sweep.db'), { sweepIntervalMs: 0, now: () => now });
    try {
      const kv = sqlite.kv('ns');
      for (let i = 0; i < 1500; i++) await kv.set(`k${i}`, bytes('x'), i < 1200 ? 1 : 0);
      await sqlite.counters.add('c', 1, 1);
      now += 2_000;
      sqlite.sweep();
      const rows = sqlite.db.prepare('SELECT count(*) AS n FROM kv').get() as { n: number };
      const counters = sqlite.db.prepare('SELECT count(*) AS n FROM counters').get() as { n: number };
      assert.equal(rows.n, 300);
      assert.equal(counters.n, 0);
    } finally {
      await sqlite.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
