/**
 * Redis Cluster runs a script only when all its keys hash to one slot. Every script the Redis
 * store runs is recorded here and its keys' slots compared; the counters written before keys
 * were hash-tagged are moved to the new layout at connect.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/store/redis.js';
import { startTestRedis, type TestRedis } from './store-redis-server.js';

const testRedis: TestRedis = await startTestRedis();
const skip = 'skip' in testRedis ? testRedis.skip : undefined;

/** CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster slots are made of. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Cluster slot of a key: only the first non-empty `{...}` counts when there is one. */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  if (open !== -1) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key)) % 16384;
}

describe('Redis store keys for Cluster', { skip }, () => {
  const url = 'url' in testRedis ? testRedis.url : '';
  const keyPrefix = `sluice-test-slots-${randomBytes(4).toString('hex')}:`;
  let admin: Redis;

  before(() => {
    admin = new Redis(url);
  });

  after(async () => {
    const keys = await admin.keys(`${keyPrefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    if ('stop' in testRedis) await testRedis.stop();
  });

  it('the CRC16 here gives the slots Redis documents', () => {
    // From the Redis Cluster specification: "123456789" → 0x31C3; tags decide the slot.
    assert.equal(crc16(Buffer.from('123456789')), 0x31c3);
    assert.equal(slotOf('{user1000}.following'), slotOf('{user1000}.followers'));
  });

  it("every script's keys share one slot (counters, limited and unlimited KV, leases, circuits)", async () => {
    const store = await RedisStore.connect(url, { keyPrefix, sweepIntervalMs: 0 });
    const scripts: string[][] = [];
    const original = store.redis.callBuffer.bind(store.redis);
    // Record the keys of every EVALSHA / EVAL on their way out.
    store.redis.callBuffer = ((command: string, ...args: (string | number | Buffer)[]) => {
      if (command === 'EVALSHA' || command === 'EVAL') {
        const count = Number(args[1]);
        scripts.push(args.slice(2, 2 + count).map(String));
      }
      return original(command, ...args);
    }) as typeof store.redis.callBuffer;
    try {
      const reserved = await store.counters.tryAdd([
        { key: 'budget:user:ann:day', amount: 1, limit: 10, ttlSeconds: 60 },
        { key: 'budget:team:blue:day', amount: 1, limit: 10, ttlSeconds: 60 },
        { key: 'rpm:key:k1', amount: 1, limit: 5, ttlSeconds: 60 },
      ]);
      assert.ok(reserved.ok);
      await store.counters.add('budget:user:ann:day', -0.5, 60);

      const exact = store.kv('exact', { maxEntries: 2 });
      for (const key of ['a', 'b', 'c']) await exact.set(key, Buffer.from(key.repeat(10)), 60);
      assert.equal(await exact.get('a'), undefined, 'the least recently used entry was evicted');
      assert.ok(await exact.getEntry('c'));
      assert.ok(await exact.touch('c', 60));
      await exact.delete('b');
      await exact.sweep();

      const plain = store.kv('keys');
      await plain.set('k', Buffer.from('v'), 0);
      assert.ok(await plain.getEntry('k'));
      assert.ok(await plain.touch('k', 30));

      assert.ok(await store.leases.acquire('flight:x', 'me', 1_000));
      assert.ok(await store.leases.renew('flight:x', 'me', 1_000));
      await store.leases.release('flight:x', 'me', { value: 'done', ttlMs: 500 });

      const circuit = store.circuit('my {odd} upstream');
      await circuit.open(Date.now(), 1, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(await circuit.acquire('me', 1_000), { state: 'probe' });
      await circuit.settleProbe('me', true);
      assert.deepEqual(await circuit.acquire('me', 1_000), { state: 'closed' });
    } finally {
      await store.close();
    }
    assert.ok(scripts.length >= 12, `scripts recorded: ${scripts.length}`);
    for (const keys of scripts) {
      const slots = new Set(keys.map(slotOf));
      assert.equal(slots.size, 1, `keys in one script, one slot: ${keys.join(' ')}`);
    }
  });

  it('counters of the layout before hash tags move to it at connect, value and expiry kept', async () => {
    await admin.set(`${keyPrefix}ctr:budget:user:bob:day`, '2.5', 'PX', 600_000);
    await admin.set(`${keyPrefix}ctr:rpm:user:bob`, '3');
    const store = await RedisStore.connect(url, { keyPrefix, sweepIntervalMs: 0 });
    try {
      assert.deepEqual(await store.counters.get(['budget:user:bob:day', 'rpm:user:bob']), [2.5, 3]);
      assert.equal(await admin.exists(`${keyPrefix}ctr:budget:user:bob:day`), 0, 'the old key is gone');
      const ttl = await admin.pttl(`${keyPrefix}{ctr}:budget:user:bob:day`);
      assert.ok(ttl > 590_000 && ttl <= 600_000, `expiry kept: ${ttl}`);
      assert.equal(await admin.pttl(`${keyPrefix}{ctr}:rpm:user:bob`), -1, 'no expiry stays none');
    } finally {
      await store.close();
    }
  });
});
