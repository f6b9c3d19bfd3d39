import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from '../src/store/index.js';
import type { KvLimits } from '../src/store/types.js';

/**
 * The store contract, run against a backend through its harness: every backend (memory,
 * embedded, Redis, PostgreSQL) must pass the same suite. TTL tests wait a few hundred ms of
 * real time, because Redis and PostgreSQL expiry cannot be faked; no assertion depends on how
 * long anything took.
 */

export const bytes = (text: string) => new TextEncoder().encode(text);
export const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

export interface Harness {
  open(): Promise<Backend>;
  /** Close and open again on the same data (only for durable backends). */
  durable: boolean;
  cleanup(): Promise<void>;
}

let nsCounter = 0;
const freshNs = (limits?: KvLimits) => ({ ns: `t${++nsCounter}`, limits });

export function backendSuite(name: string, makeHarness: () => Promise<Harness | { skip: string }>) {
  describe(`store backend: ${name}`, async () => {
    const made = await makeHarness();
    if ('skip' in made) {
      it('is skipped', { skip: made.skip }, () => {});
      return;
    }
    const harness = made;
    let backend: Backend;
    before(async () => {
      backend = await harness.open();
    });
    after(async () => {
      await backend.close();
      await harness.cleanup();
    });

    describe('kv', () => {
      it('stores and returns bytes, including binary values', async () => {
        const { ns } = freshNs();
        const kv = backend.kv(ns);
        const binary = new Uint8Array([0, 255, 1, 254, 0, 0, 10, 13]);
        await kv.set('bin', binary, 60);
        await kv.set('txt', bytes('héllo'), 60);
        assert.deepEqual(new Uint8Array((await kv.get('bin'))!), binary);
        assert.equal(text(await kv.get('txt')), 'héllo');
        assert.equal(await kv.get('missing'), undefined);
        const entry = await kv.getEntry('txt');
        assert.ok(entry);
        assert.ok(entry.expiresAt > Date.now() + 50_000 && entry.expiresAt <= Date.now() + 60_000);
      });

      it('expires entries after their TTL and keeps ttl <= 0 forever', async () => {
        const kv = backend.kv(freshNs().ns);
        await kv.set('short', bytes('x'), 0.15);
        await kv.set('forever', bytes('y'), 0);
        assert.equal(text(await kv.get('short')), 'x');
        assert.equal((await kv.getEntry('forever'))?.expiresAt, 0);
        await sleep(300);
        assert.equal(await kv.get('short'), undefined);
        assert.equal(await kv.getEntry('short'), undefined);
        assert.equal(text(await kv.get('forever')), 'y');
      });

      it('touch slides the expiry and reports a missing key', async () => {
        const kv = backend.kv(freshNs().ns);
        await kv.set('k', bytes('v'), 0.3);
        await sleep(200);
        assert.equal(await kv.touch('k', 0.3), true);
        await sleep(200);
        assert.equal(text(await kv.get('k')), 'v', 'renewed entry outlives its first TTL');
        assert.equal(await kv.touch('nope', 10), false);
      });

      it('deletes one key, a prefix (taken literally) and lists keys', async () => {
        const kv = backend.kv(freshNs().ns);
        for (const key of ['a*[x]:1', 'a*[x]:2', 'a*[y]:1', 'ab:1', 'b:1']) await kv.set(key, bytes(key), 60);
        assert.deepEqual((await collect(kv.keys('a*[x]'))).sort(), ['a*[x]:1', 'a*[x]:2']);
        assert.equal(await kv.deletePrefix('a*[x]'), 2);
        assert.equal(await kv.get('a*[x]:1'), undefined);
        assert.equal(text(await kv.get('a*[y]:1')), 'a*[y]:1');
        assert.equal(text(await kv.get('ab:1')), 'ab:1', 'glob characters are not wildcards');
        assert.equal(await kv.delete('b:1'), true);
        assert.equal(await kv.delete('b:1'), false);
        assert.deepEqual((await collect(kv.keys(''))).sort(), ['a*[y]:1', 'ab:1']);
      });

      it('namespaces do not see each other', async () => {
        const one = backend.kv(freshNs().ns);
        const two = backend.kv(freshNs().ns);
        await one.set('same', bytes('1'), 60);
        assert.equal(await two.get('same'), undefined);
        assert.equal(await two.deletePrefix(''), 0);
        assert.equal(text(await one.get('same')), '1');
      });

      it('evicts the least recently used entry past maxEntries', async () => {
        const kv = backend.kv(freshNs().ns, { maxEntries: 3 });
        await kv.set('a', bytes('1'), 60);
        await kv.set('b', bytes('2'), 60);
        await kv.set('c', bytes('3'), 60);
        assert.equal(text(await kv.get('a')), '1'); // a is now the most recently used
        await kv.set('d', bytes('4'), 60);
        assert.equal(await kv.get('b'), undefined, 'b was the least recently used');
        assert.deepEqual(await texts(kv, ['a', 'c', 'd']), ['1', '3', '4']);
        await kv.set('d', bytes('5'), 60); // overwriting is not a new entry
        assert.deepEqual(await texts(kv, ['a', 'c', 'd']), ['1', '3', '5']);
      });

      it('evicts by total value bytes and refuses a value larger than maxBytes', async () => {
        const kv = backend.kv(freshNs().ns, { maxBytes: 10 });
        await kv.set('a', bytes('aaaa'), 60);
        await kv.set('b', bytes('bbbb'), 60);
        await kv.touch('a', 60); // a is now the most recently used
        await kv.set('c', bytes('cccc'), 60);
        assert.equal(await kv.get('b'), undefined);
        assert.deepEqual(await texts(kv, ['a', 'c']), ['aaaa', 'cccc']);
        await kv.set('huge', bytes('x'.repeat(11)), 60);
        assert.equal(await kv.get('huge'), undefined);
        assert.deepEqual(await texts(kv, ['a', 'c']), ['aaaa', 'cccc'], 'a refused value evicts nothing');
      });

      it('keeps limits right across deletes and prefix deletes', async () => {
        const kv = backend.kv(freshNs().ns, { maxEntries: 2 });
        await kv.set('p:1', bytes('1'), 60);
        await kv.set('p:2', bytes('2'), 60);
        assert.equal(await kv.deletePrefix('p:'), 2);
        await kv.set('q:1', bytes('1'), 60);
        await kv.set('q:2', bytes('2'), 60);
        assert.deepEqual(await texts(kv, ['q:1', 'q:2']), ['1', '2'], 'deleted entries free their slots');
      });
    });

    it('durable namespaces store, list, expire and delete', async () => {
      const { ns } = freshNs();
      const kv = backend.durableKv(ns);
      await kv.set('rec:a', bytes('one'), 0);
      await kv.set('rec:b', bytes('two'), 60);
      await kv.set('other', bytes('three'), 0.15);
      assert.equal(text(await kv.get('rec:a')), 'one');
      assert.equal((await kv.getEntry('rec:a'))?.expiresAt, 0);
      assert.deepEqual((await collect(kv.keys('rec:'))).sort(), ['rec:a', 'rec:b']);
      assert.equal(await kv.touch('rec:b', 120), true);
      await sleep(300);
      assert.equal(await kv.get('other'), undefined);
      assert.equal(await kv.touch('other', 60), false);
      assert.equal(await kv.deletePrefix('rec:'), 2);
      assert.equal(await kv.get('rec:a'), undefined);
      assert.equal(await kv.delete('rec:a'), false);
    });

    describe('counters', () => {
      it('adds, reads and takes negative and fractional amounts', async () => {
        const { counters } = backend;
        const key = uniqueKey('c');
        assert.equal(await counters.add(key, 1.25, 60), 1.25);
        assert.equal(await counters.add(key, -0.25, 60), 1);
        assert.deepEqual(await counters.get([key, uniqueKey('none')]), [1, 0]);
      });

      it('tryAdd is all or nothing', async () => {
        const { counters } = backend;
        const a = uniqueKey('a');
        const b = uniqueKey('b');
        await counters.add(b, 8, 60);
        const refused = await counters.tryAdd([
          { key: a, amount: 1, limit: 100, ttlSeconds: 60 },
          { key: b, amount: 3, limit: 10, ttlSeconds: 60 },
        ]);
        assert.deepEqual(refused, { ok: false, index: 1, current: 8 });
        assert.deepEqual(await counters.get([a, b]), [0, 8], 'nothing was added');
        const accepted = await counters.tryAdd([
          { key: a, amount: 1, limit: 100, ttlSeconds: 60 },
          { key: b, amount: 2, limit: 10, ttlSeconds: 60 },
        ]);
        assert.deepEqual(accepted, { ok: true, values: [1, 10] });
        const unlimited = await counters.tryAdd([{ key: a, amount: 1e9, limit: Infinity, ttlSeconds: 0 }]);
        assert.deepEqual(unlimited, { ok: true, values: [1e9 + 1] });
      });

      it('checks a key listed twice against both amounts', async () => {
        const key = uniqueKey('dup');
        const result = await backend.counters.tryAdd([
          { key, amount: 6, limit: 10, ttlSeconds: 60 },
          { key, amount: 6, limit: 10, ttlSeconds: 60 },
        ]);
        assert.deepEqual(result, { ok: false, index: 1, current: 6 });
        assert.deepEqual(await backend.counters.get([key]), [0]);
      });

      it('a counter window expires from its first write', async () => {
        const key = uniqueKey('win');
        await backend.counters.add(key, 5, 0.2);
        await sleep(100);
        await backend.counters.add(key, 1, 0.2); // does not extend the window
        await sleep(200);
        assert.deepEqual(await backend.counters.get([key]), [0]);
        assert.equal(await backend.counters.add(key, 2, 60), 2, 'a new window starts from zero');
      });

      it('50 concurrent tryAdd against room for 10: exactly 10 succeed', async () => {
        const key = uniqueKey('race');
        // Where the backend allows it, the racers use separate stores (as separate instances would).
        const racers = harness.durable ? [backend, await harness.open()] : [backend];
        try {
          const results = await Promise.all(
            Array.from({ length: 50 }, (_, i) =>
              racers[i % racers.length].counters.tryAdd([{ key, amount: 1, limit: 10, ttlSeconds: 60 }]),
            ),
          );
          assert.equal(results.filter((r) => r.ok).length, 10);
          assert.deepEqual(await backend.counters.get([key]), [10]);
        } finally {
          if (racers[1]) await racers[1].close();
        }
      });
    });

    describe('ledger', () => {
      interface Spend {
        ts: number;
        user: string;
        model: string;
        tokens: number;
      }

      it('returns rows in a time range, oldest first, with equality filters', async () => {
        const ledger = backend.ledger<Spend>(uniqueKey('ledger'));
        const rows: Spend[] = [
          { ts: 1000, user: 'ann', model: 'm1', tokens: 5 },
          { ts: 3000, user: 'bob', model: 'm1', tokens: 7 },
          { ts: 2000, user: 'ann', model: 'm2', tokens: 5 },
          { ts: 2000, user: 'ann', model: 'm2', tokens: 5 }, // identical rows are both kept
          { ts: 4000, user: 'ann', model: 'm1', tokens: 9 },
        ];
        for (const row of rows) await ledger.append(row);
        assert.deepEqual(
          (await ledger.query({ since: 1000 })).map((r) => r.ts),
          [1000, 2000, 2000, 3000, 4000],
        );
        assert.deepEqual(
          (await ledger.query({ since: 2000, until: 4000 })).map((r) => r.ts),
          [2000, 2000, 3000],
          'until is exclusive',
        );
        assert.deepEqual(await ledger.query({ since: 0, where: { user: 'ann', model: 'm1' } }), [
          rows[0],
          rows[4],
        ]);
        assert.deepEqual(
          (await ledger.query({ since: 0, where: { tokens: '5' } })).map((r) => r.ts),
          [1000, 2000, 2000],
          'numbers match their decimal text',
        );
        assert.deepEqual(await ledger.query({ since: 0, where: { user: 'nobody' } }), []);
      });
    });

    if (harness.durable) {
      it('keeps kv, counters and ledgers across a restart', async () => {
        const ns = freshNs({ maxEntries: 5 }).ns;
        const key = uniqueKey('persist');
        const ledgerName = uniqueKey('ledger');
        await backend.kv(ns, { maxEntries: 5 }).set('k', bytes('kept'), 60);
        await backend.kv(ns, { maxEntries: 5 }).set('gone', bytes('x'), 0.1);
        await backend.counters.add(key, 3, 60);
        await backend.ledger<{ ts: number; n: number }>(ledgerName).append({ ts: 1, n: 1 });
        await backend.close();
        await sleep(150);
        backend = await harness.open();
        const kv = backend.kv(ns, { maxEntries: 5 });
        assert.equal(text(await kv.get('k')), 'kept');
        assert.equal(await kv.get('gone'), undefined);
        assert.deepEqual(await backend.counters.get([key]), [3]);
        assert.deepEqual(await backend.ledger(ledgerName).query({ since: 0 }), [{ ts: 1, n: 1 }]);
      });
    }
  });
}

async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const key of keys) out.push(key);
  return out;
}

async function texts(kv: { get(key: string): Promise<Uint8Array | undefined> }, keys: string[]) {
  return Promise.all(keys.map(async (key) => text(await kv.get(key))));
}

const uniqueKey = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;
