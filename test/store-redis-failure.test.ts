import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import type { LedgerRow } from '../src/cost/ledger.js';
import { LedgerSpool } from '../src/store/ledger-spool.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { type RedisProcess, redisServerMissing, startRedisProcess } from './redis-process.js';
import { waitFor } from './wait-for.js';

const skip = redisServerMissing();
const LEDGER_KEY = 'sluice:ledger:usage';
const COMMAND_TIMEOUT_MS = 300;

const chat = (content: string) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user' as const, content }],
  temperature: 0,
});

function post(gw: TestGateway, user: string, content: string): Promise<Response> {
  return fetch(`${gw.v1}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-sluice-user': user },
    body: JSON.stringify(chat(content)),
  });
}

/** The gateway config of these tests: Redis, a budget for bob, a rate limit for carol and dave. */
const gatewayConfig = (redisUrl: string, extra: Record<string, unknown> = {}) => ({
  redisUrl,
  store: { commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: 500 },
  cost: { budgets: { users: { bob: { dailyUsd: 100 } } } },
  flow: {
    rateLimits: [
      { scope: 'user', match: 'carol', rpm: 1000 },
      { scope: 'user', match: 'dave', rpm: 20 },
    ],
  },
  ...extra,
});

/** Every budget counter of `user` (spent + held), by key. */
async function budgetCounters(url: string, user: string): Promise<Record<string, string | null>> {
  const client = new Redis(url);
  try {
    const keys = (await client.keys('sluice:{ctr}:*budget*')).filter((k) => k.includes(user)).sort();
    const values = keys.length > 0 ? await client.mget(...keys) : [];
    return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
  } finally {
    client.disconnect();
  }
}

async function ledgerRows(url: string): Promise<LedgerRow[]> {
  const client = new Redis(url);
  try {
    const members = await client.zrange(LEDGER_KEY, '0', '-1');
    return members.map((m) => JSON.parse(m.slice(m.indexOf('\n') + 1)) as LedgerRow);
  } finally {
    client.disconnect();
  }
}

describe('Redis failures', { skip }, () => {
  let redis: RedisProcess;
  before(async () => {
    redis = await startRedisProcess();
  });
  after(async () => {
    await redis?.dispose();
  });

  it('Redis stopped mid-traffic: caches fail open, limits and budgets answer 503 store_unavailable, never 500', async () => {
    const gw = await startTestGateway(gatewayConfig(redis.url));
    try {
      const openai = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
      const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
      // Warm the cache while Redis is up: the repeat is a hit.
      await openai.chat.completions.create(chat('cached before the outage'), {
        headers: { 'x-sluice-user': 'alice' },
      });
      const hit = await post(gw, 'alice', 'cached before the outage');
      assert.equal(hit.headers.get('x-sluice-cache'), 'exact');

      await redis.stop();

      // No limit or budget applies to alice: the cache read fails, is a miss, and she is served.
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await post(gw, 'alice', i % 2 ? 'cached before the outage' : `fresh ${i}`);
        statuses.push(res.status);
        if (res.status === 200) assert.equal(res.headers.get('x-sluice-cache'), 'miss');
        await res.arrayBuffer();
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200]);
      const stats = gw.sluice.gateway.instanceStats();
      assert.ok(stats.cache.readErrors >= 6, `read errors counted: ${stats.cache.readErrors}`);
      assert.ok((stats.store?.unavailable ?? 0) > 0);

      // Bob has a budget: it cannot be checked, so he is refused in the OpenAI shape.
      const budgetError = await openai.chat.completions
        .create(chat('budgeted'), { headers: { 'x-sluice-user': 'bob' } })
        .then(
          () => assert.fail('a budgeted request must not pass while the store is away'),
          (e: unknown) => e,
        );
      assert.ok(budgetError instanceof OpenAI.APIError);
      assert.equal(budgetError.status, 503);
      assert.equal(budgetError.code, 'store_unavailable');
      assert.equal(budgetError.type, 'service_unavailable');
      assert.match(budgetError.message, /Budgets cannot be checked/);
      assert.ok(Number(budgetError.headers?.get('retry-after')) >= 1);

      // Carol is rate-limited: refused in the Anthropic shape on /v1/messages.
      const limitError = await anthropic.messages
        .create(
          { model: 'claude-3-5-haiku-latest', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
          { headers: { 'x-sluice-user': 'carol' } },
        )
        .then(
          () => assert.fail('a rate-limited request must not pass while the store is away'),
          (e: unknown) => e,
        );
      assert.ok(limitError instanceof Anthropic.APIError);
      assert.equal(limitError.status, 503);
      const body = limitError.error as {
        type: string;
        error: { type: string; code: string; message: string };
      };
      assert.equal(body.type, 'error');
      assert.equal(body.error.code, 'store_unavailable');
      assert.match(body.error.message, /Rate limits cannot be checked/);
      assert.ok(Number(limitError.headers?.get('retry-after')) >= 1);

      await redis.start();
      // Once reconnected, limits and budgets work again.
      await waitFor('bob to be served after the restart', async () => {
        const res = await post(gw, 'bob', 'after the restart');
        await res.arrayBuffer();
        assert.notEqual(res.status, 500);
        return res.status === 200;
      });
    } finally {
      await gw.close();
    }
  });

  it('Redis stalled (SIGSTOP): a request completes within about the command timeout, not the stall', async () => {
    const gw = await startTestGateway(gatewayConfig(redis.url));
    try {
      await (await post(gw, 'alice', 'before the stall')).arrayBuffer();
      await (await post(gw, 'bob', 'budget before the stall')).arrayBuffer();
      await gw.sluice.gateway.economy.budgets.idle();
      const heldBefore = await budgetCounters(redis.url, 'bob');
      assert.ok(Object.keys(heldBefore).length > 0, 'bob has budget counters');
      redis.pause();
      try {
        // Bob first: his budget reservation is sent to the stalled Redis and times out.
        let started = Date.now();
        const refused = await post(gw, 'bob', 'budget during the stall');
        const body = (await refused.json()) as { error: { code: string } };
        const refusedMs = Date.now() - started;
        assert.equal(refused.status, 503);
        assert.equal(body.error.code, 'store_unavailable');
        assert.ok(refusedMs < COMMAND_TIMEOUT_MS + 1500, `refused in ${refusedMs} ms`);
        started = Date.now();
        const served = await post(gw, 'alice', 'during the stall');
        await served.arrayBuffer();
        const servedMs = Date.now() - started;
        assert.equal(served.status, 200);
        assert.ok(servedMs < COMMAND_TIMEOUT_MS + 1500, `answered in ${servedMs} ms`);
      } finally {
        redis.resume();
      }
      // Redis runs the reservation it received before the stall once it resumes; the gateway
      // had refused that request, so it takes the reservation back: nothing stays held.
      await waitFor('the refused reservation to be taken back', async () => {
        const now = await budgetCounters(redis.url, 'bob');
        return JSON.stringify(now) === JSON.stringify(heldBefore);
      });
    } finally {
      await gw.close();
    }
  });

  it('ledger rows written while Redis is away are spooled, replayed once after the restart, never doubled', async () => {
    const before = (await ledgerRows(redis.url)).length;
    const gw = await startTestGateway(gatewayConfig(redis.url));
    const spoolDir = join(gw.sluice.gateway.config.dataDir, 'spool');
    const backup = mkdtempSync(join(tmpdir(), 'sluice-spool-copy-'));
    try {
      for (let i = 0; i < 3; i++) await (await post(gw, 'alice', `ledger up ${i}`)).arrayBuffer();
      await redis.stop();
      for (let i = 0; i < 10; i++) {
        const res = await post(gw, 'alice', `ledger down ${i}`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
      await gw.sluice.gateway.economy.ledger.idle();
      assert.equal(gw.sluice.gateway.instanceStats().store?.ledgerSpooled, 10);
      const spooled = readdirSync(spoolDir);
      assert.equal(spooled.length, 1);
      copyFileSync(join(spoolDir, spooled[0]), join(backup, 'rows.jsonl'));

      await redis.start();
      await waitFor(
        'the spool to be replayed',
        async () => gw.sluice.gateway.instanceStats().store?.ledgerReplayed === 10,
      );
      for (let i = 0; i < 3; i++) await (await post(gw, 'alice', `ledger back ${i}`)).arrayBuffer();
      await gw.sluice.gateway.economy.ledger.idle();

      const rows = (await ledgerRows(redis.url)).slice(0);
      const ids = new Set(rows.map((r) => r.requestId));
      assert.equal(rows.length, before + 16, 'one row per request: 3 before, 10 during, 3 after');
      assert.equal(ids.size, rows.length, 'no request has two rows');
      assert.deepEqual(readdirSync(spoolDir), [], 'replayed files are removed');

      // The same rows again, as a file left behind by a process that died: replay adds nothing.
      const dead = spawnSync('true').pid;
      copyFileSync(join(backup, 'rows.jsonl'), join(spoolDir, `usage.${dead}.deadbeef.jsonl`));
      const report = await gw.sluice.gateway.economy.ledger.query({ since: 0 });
      assert.equal(report.length, before + 16);
      assert.equal((await ledgerRows(redis.url)).length, before + 16);
      assert.deepEqual(readdirSync(spoolDir), []);
    } finally {
      await gw.close();
      rmSync(backup, { recursive: true, force: true });
    }
  });

  it('three gateways never admit more than the RPM limit across a Redis restart (fail closed)', async () => {
    const gateways = await Promise.all([1, 2, 3].map(() => startTestGateway(gatewayConfig(redis.url))));
    const counts = new Map<number, number>();
    const send = async (n: number) => {
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => post(gateways[i % 3], 'dave', `rpm ${Math.random()}`)),
      );
      for (const res of results) {
        counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
        await res.arrayBuffer();
      }
    };
    try {
      await send(9);
      const stopped = redis.stop();
      await send(12);
      await stopped;
      await send(12);
      await redis.start();
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      await send(24);
      const admitted = counts.get(200) ?? 0;
      assert.equal(counts.get(500) ?? 0, 0, `no 500s: ${JSON.stringify([...counts])}`);
      assert.ok(admitted <= 20, `admitted ${admitted} of a 20 rpm limit`);
      assert.ok(admitted >= 9, `the limit still admits while Redis is up (${admitted})`);
      assert.ok((counts.get(503) ?? 0) >= 12, `refused while Redis was down: ${JSON.stringify([...counts])}`);
    } finally {
      await Promise.all(gateways.map((gw) => gw.close()));
    }
  });
});

describe('ledger spool', () => {
  it('keeps rows on disk until written, skips a torn last line and adopts files of dead processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-spool-'));
    try {
      const spool = new LedgerSpool(dir, 'usage');
      await Promise.all([1, 2, 3].map((n) => spool.append({ score: n, member: `m${n}` })));
      const failing = await spool
        .drain(async () => {
          throw new Error('store still away');
        })
        .then(
          () => 'drained',
          () => 'kept',
        );
      assert.equal(failing, 'kept');
      const dead = spawnSync('true').pid;
      writeFileSync(join(dir, `usage.${dead}.0.jsonl`), '{"score":4,"member":"m4"}\n{"score":5,"mem');
      const written: string[] = [];
      const n = await spool.drain(async (rows) => {
        written.push(...rows.map((r) => r.member));
      });
      assert.equal(n, 4);
      assert.deepEqual(written.sort(), ['m1', 'm2', 'm3', 'm4']);
      assert.deepEqual(readdirSync(dir), []);
      await spool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
