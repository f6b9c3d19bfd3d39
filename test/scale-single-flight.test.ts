/**
 * Single-flight across instances: three gateways on one Redis in front of one simulated
 * upstream. Identical concurrent requests spread over the three reach the upstream once; a
 * leader whose process dies mid-call is taken over once its lease lapses; with Redis away the
 * flight falls back to one per process.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { simulatedUpstreams } from '../src/app.js';
import { cacheConfigSchema } from '../src/cache/config.js';
import { ExactCache } from '../src/cache/exact-cache.js';
import { cachedReply, exactCacheStage } from '../src/cache/exact-stage.js';
import { singleFlightStage } from '../src/cache/single-flight.js';
import { startMockUpstream, type MockUpstream } from '../src/mock/index.js';
import { compose } from '../src/pipeline/compose.js';
import { StoreUnavailableError } from '../src/store/errors.js';
import { MemoryKvStore } from '../src/store/memory.js';
import type { LeaseStore } from '../src/store/types.js';
import { jsonReply, makeCtx, readReply } from './cache-fixtures.js';
import { cleanEnv, spawnCli } from './cli-run.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { startTestRedis, type TestRedis } from './store-redis-server.js';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

const CHAT = '/v1/chat/completions';
const LEASE_MS = 1_000;

const testRedis: TestRedis = await startTestRedis();
const skip = 'skip' in testRedis ? testRedis.skip : undefined;

describe('single-flight across three instances on one Redis', { skip }, () => {
  const redisUrl = 'url' in testRedis ? testRedis.url : '';
  const keyPrefix = `sluice-test-flight-${randomBytes(4).toString('hex')}:`;
  let mock: MockUpstream;
  let gateways: TestGateway[];

  const config = () => ({
    redisUrl,
    store: { keyPrefix },
    cache: { flightLeaseMs: LEASE_MS },
    upstreams: simulatedUpstreams(mock.url),
  });

  before(async () => {
    // Slow enough that every request below arrives while the first call is still running.
    mock = await startMockUpstream({ latencyMs: 600 });
    gateways = [];
    for (let i = 0; i < 3; i++) gateways.push(await startTestGateway(config()));
  });

  after(async () => {
    for (const gw of gateways ?? []) await gw.close();
    await mock?.close();
    if ('url' in testRedis) {
      const client = new Redis(testRedis.url);
      const keys = await client.keys(`${keyPrefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
      await testRedis.stop();
    }
  });

  const clients = () => gateways.map((gw) => new OpenAI({ baseURL: gw.v1, apiKey: 'unused', maxRetries: 0 }));
  const chatCalls = () => mock.counts().byPath[CHAT] ?? 0;

  it('identical concurrent JSON requests spread over the three reach the upstream once', async () => {
    mock.reset();
    const question = `Name a river (${randomBytes(4).toString('hex')}).`;
    const sdk = clients();
    const answers = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        sdk[i % 3].chat.completions
          .create({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: question }] })
          .withResponse(),
      ),
    );
    assert.equal(chatCalls(), 1, 'one upstream call for nine requests over three instances');
    assert.equal(
      new Set(answers.map((a) => a.data.choices[0].message.content)).size,
      1,
      'one answer for all',
    );
    // Each other instance's first request waited for the stored entry and served it as a hit
    // (its local followers share that and say `miss`, as every single-flight follower does).
    const served = answers.map((a) => a.response.headers.get('x-sluice-cache'));
    assert.ok(served.filter((s) => s === 'exact').length >= 2, `outcomes: ${served.join(',')}`);
  });

  it('streaming requests on other instances wait for the whole answer and get it replayed', async () => {
    mock.reset();
    const question = `Name a mountain (${randomBytes(4).toString('hex')}).`;
    const sdk = clients();
    const texts = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const stream = await sdk[i % 3].chat.completions.create({
          model: 'gpt-4o-mini',
          temperature: 0,
          stream: true,
          messages: [{ role: 'user', content: question }],
        });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        return text;
      }),
    );
    assert.equal(chatCalls(), 1, 'one upstream stream for six streaming requests');
    assert.ok(texts[0].length > 0);
    assert.equal(new Set(texts).size, 1, 'every client read the same text');
  });

  it('a leader whose process dies mid-call is taken over once its lease lapses', async () => {
    mock.reset();
    const question = `Name a lake (${randomBytes(4).toString('hex')}).`;
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user', content: question }],
    });
    const leader = await startChildGateway({ ...config(), logLevel: 'silent' });
    try {
      // The leader's upstream call never answers (the simulated upstream hangs it).
      const doomed = fetch(`${leader.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mock-fault': 'hang' },
        body,
      }).catch((error: unknown) => error);
      await waitFor('the leader to reach the upstream', () => mock.counts().attempts === 1);

      const follower = gateways[1];
      const started = Date.now();
      const waiting = fetch(`${follower.v1}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      // Longer than the lease: a live leader renews it, so nobody else calls upstream.
      await sleep(LEASE_MS * 1.6);
      assert.equal(mock.counts().attempts, 1, 'the follower waits while the leader is alive');

      const killedAt = Date.now();
      leader.kill();
      const res = await waiting;
      const took = Date.now() - killedAt;
      assert.equal(res.status, 200);
      const answer = (await res.json()) as { choices: Array<{ message: { content: string } }> };
      assert.ok(answer.choices[0].message.content.length > 0);
      assert.equal(res.headers.get('x-sluice-cache'), 'miss', 'the follower called upstream itself');
      assert.equal(mock.counts().attempts, 2, 'exactly one takeover call');
      // Lease left to lapse (≤ LEASE_MS) + the simulated upstream's latency + polling slack.
      assert.ok(took < LEASE_MS + 600 + 1_000, `took over ${took} ms after the kill`);
      assert.ok(Date.now() - started > LEASE_MS, 'it did not go upstream before the lease lapsed');
      await doomed;
    } finally {
      leader.kill();
    }
  });
});

describe('single-flight with its lease store away', () => {
  it('falls back to one upstream call per process and answers every request', async () => {
    const failures: unknown[] = [];
    const away: LeaseStore = {
      acquire: async () => {
        throw new StoreUnavailableError('Redis unavailable: connection is closed');
      },
      renew: async () => false,
      release: async () => {},
      holder: async () => undefined,
    };
    const cache = new ExactCache({ store: new MemoryKvStore(), config: cacheConfigSchema.parse({}) });
    let calls = 0;
    const handle = compose([
      exactCacheStage(cache),
      singleFlightStage({
        shared: {
          leases: away,
          storedReply: (key, ctx) => cachedReply(cache, key, ctx),
          onError: (error) => failures.push(error),
        },
      }),
      async () => {
        calls++;
        await sleep(50);
        return jsonReply({
          id: 'chatcmpl-away',
          object: 'chat.completion',
          created: 1,
          model: 'gpt-4o-mini',
          choices: [
            { index: 0, message: { role: 'assistant', content: 'Still here.' }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
        });
      },
    ]);
    const bodies = await Promise.all(
      Array.from({ length: 5 }, async () => readReply(await handle(makeCtx()))),
    );
    assert.equal(calls, 1, 'identical requests in one process still share one call');
    assert.equal(new Set(bodies).size, 1);
    assert.equal(JSON.parse(bodies[0]).id, 'chatcmpl-away');
    assert.equal(failures.length, 1, 'the lease failure was reported once (one local leader)');
  });
});

/** A gateway in a child process (`sluice serve`), so the test can SIGKILL it mid-call. */
async function startChildGateway(config: Record<string, unknown>): Promise<{ url: string; kill(): void }> {
  const dir = `/tmp/sluice-flight-child-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/config.json`;
  writeFileSync(file, JSON.stringify({ ...config, dataDir: dir }));
  const port = await freePort();
  const child = spawnCli(['serve', '--config', file, '--port', String(port)], cleanEnv());
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) assert.fail(`the child gateway exited: ${stderr}`);
    const ok = await fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      assert.fail(`the child gateway did not start: ${stderr}`);
    }
    await sleep(100);
  }
  return {
    url,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
