import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';
import { startTestRedis } from './store-redis-server.js';

/**
 * Two gateway instances on one store (one SQLite file, or one Redis): traffic sent through A
 * shows in B's `/v1/stats` and `/v1/stats/series`, because both count from the shared ledger;
 * the per-process exact-cache counters differ, and say they are per instance.
 */

interface Stats {
  total_requests: number;
  hits: { exact: number; semantic: number };
  hit_rate: number;
  errors: number;
  cost_usd: number;
  window: { source: string; backend: string };
  instance_local: string[];
  cache: { requests: number };
}

const getStats = async (gw: TestGateway, path = '/v1/stats'): Promise<Stats> => {
  const res = await fetch(`${gw.url}${path}`);
  assert.equal(res.status, 200);
  return (await res.json()) as Stats;
};

/** Sends 4 calls: through A a miss and an error, through B a hit on A's answer, through A a hit. */
async function sendTraffic(a: TestGateway, b: TestGateway, tag: string): Promise<number> {
  const body = {
    model: 'gpt-4o-mini',
    temperature: 0,
    messages: [{ role: 'user' as const, content: `shared stats ${tag}` }],
  };
  const viaA = new OpenAI({ baseURL: a.v1, apiKey: 'unused', maxRetries: 0 });
  const viaB = new OpenAI({ baseURL: b.v1, apiKey: 'unused', maxRetries: 0 });
  const first = await viaA.chat.completions.create(body).withResponse();
  const cost = Number(first.response.headers.get('x-sluice-cost-usd'));
  await assert.rejects(
    viaA.chat.completions.create(
      { ...body, messages: [{ role: 'user', content: `fail ${tag}` }] },
      { headers: { 'x-mock-fault': '400' } },
    ),
    (e: unknown) => e instanceof OpenAI.BadRequestError,
  );
  const second = await viaB.chat.completions.create(body).withResponse();
  assert.equal(second.response.headers.get('x-sluice-cache'), 'exact', "B answers from A's cache entry");
  const third = await viaA.chat.completions.create(body).withResponse();
  assert.equal(third.response.headers.get('x-sluice-cache'), 'exact');
  // Rows are written once the reply is out; let A's land before B reads.
  await a.sluice.gateway.economy.ledger.idle();
  await b.sluice.gateway.economy.ledger.idle();
  return cost;
}

function assertDelta(before: Stats, after: Stats, cost: number): void {
  assert.equal(after.total_requests - before.total_requests, 4);
  assert.equal(after.hits.exact - before.hits.exact, 2);
  assert.equal(after.errors - before.errors, 1);
  assert.ok(Math.abs(after.cost_usd - before.cost_usd - cost) < 1e-9, 'only the miss was billed');
}

describe('stats shared by two instances', () => {
  describe('on one SQLite file', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sluice-shared-'));
    let a: TestGateway;
    let b: TestGateway;
    after(async () => {
      await a?.close();
      await b?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("shows traffic sent through A in B's /v1/stats and series", async () => {
      a = await startTestGateway({ dataDir });
      b = await startTestGateway({ dataDir });
      const cost = await sendTraffic(a, b, 'sqlite');

      const fromB = await getStats(b);
      const fromA = await getStats(a);
      assert.equal(fromB.window.source, 'ledger');
      assert.equal(fromB.window.backend, 'sqlite');
      assertDelta(
        { ...fromB, total_requests: 0, hits: { exact: 0, semantic: 0 }, errors: 0, cost_usd: 0 },
        fromB,
        cost,
      );
      assert.equal(fromB.hit_rate, 2 / 4);
      for (const field of ['total_requests', 'hits', 'hit_rate', 'errors', 'cost_usd'] as const)
        assert.deepEqual(fromA[field], fromB[field], `${field} is the same on both instances`);
      // The exact cache's own counters are per process: A made 3 of the 4 lookups, B one.
      assert.ok(fromB.instance_local.includes('cache'));
      assert.equal(fromA.cache.requests, 3);
      assert.equal(fromB.cache.requests, 1);

      const series = (await (await fetch(`${b.url}/v1/stats/series?range=15m`)).json()) as {
        totals: Stats;
        series: { requests: number[]; hits_exact: number[] };
      };
      assert.equal(series.totals.total_requests, 4);
      assert.equal(
        series.series.requests.reduce((s, n) => s + n, 0),
        4,
        'the per-bucket counts add up to the total',
      );
      assert.equal(
        series.series.hits_exact.reduce((s, n) => s + n, 0),
        2,
      );
    });
  });

  describe('on one Redis', async () => {
    const redis = await startTestRedis();
    // A database of its own on a shared REDIS_URL, so other suites' traffic cannot mix in.
    const db = 1 + (process.pid % 15);
    const url = 'skip' in redis ? '' : `${redis.url.replace(/\/\d*$/, '')}/${db}`;
    let a: TestGateway;
    let b: TestGateway;
    let createdKeys = false;
    after(async () => {
      await a?.close();
      await b?.close();
      if ('skip' in redis) return;
      if (createdKeys) {
        const client = new Redis(url);
        const keys = await client.keys('sluice:*');
        if (keys.length > 0) await client.del(...keys);
        await client.quit();
      }
      await redis.stop();
    });

    it("shows traffic sent through A in B's /v1/stats", { skip: 'skip' in redis && redis.skip }, async () => {
      const probe = new Redis(url);
      createdKeys = (await probe.keys('sluice:*')).length === 0;
      await probe.quit();
      a = await startTestGateway({ redisUrl: url });
      b = await startTestGateway({ redisUrl: url });
      const before = await getStats(b);
      const cost = await sendTraffic(a, b, `redis-${process.pid}-${Date.now()}`);
      const fromB = await getStats(b);
      const fromA = await getStats(a);
      assert.equal(fromB.window.backend, 'redis');
      assertDelta(before, fromB, cost);
      assert.deepEqual(fromA.total_requests, fromB.total_requests);
      assert.deepEqual(fromA.hits, fromB.hits);
    });
  });
});
