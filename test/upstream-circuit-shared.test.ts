/**
 * The circuit breaker's open and half-open states shared through Redis: when instance A opens
 * an upstream's circuit, instance B skips that upstream without an attempt; after the cool-down
 * one instance in all takes the probe, and its success closes the circuit everywhere.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { simulatedUpstreams } from '../src/app.js';
import { startMockUpstream, type MockUpstream } from '../src/mock/index.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { startTestRedis, type TestRedis } from './store-redis-server.js';

const COOLDOWN_MS = 1_500;

const testRedis: TestRedis = await startTestRedis();
const skip = 'skip' in testRedis ? testRedis.skip : undefined;

describe('circuit breaker shared by two instances on one Redis', { skip }, () => {
  const redisUrl = 'url' in testRedis ? testRedis.url : '';
  const keyPrefix = `sluice-test-circuit-${randomBytes(4).toString('hex')}:`;
  let mock: MockUpstream;
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    mock = await startMockUpstream({ latencyMs: 0 });
    const config = {
      redisUrl,
      store: { keyPrefix },
      // Errors are not cached; the cache is off so every request below is its own call.
      cache: { enabled: false },
      circuitBreaker: { enabled: true, failureThreshold: 2, cooldownMs: COOLDOWN_MS },
      retry: { maxAttempts: 1 },
      upstreams: simulatedUpstreams(mock.url),
    };
    a = await startTestGateway(config);
    b = await startTestGateway(config);
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await mock?.close();
    if ('url' in testRedis) {
      const client = new Redis(testRedis.url);
      const keys = await client.keys(`${keyPrefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
      await testRedis.stop();
    }
  });

  const sdk = (gw: TestGateway) => new OpenAI({ baseURL: gw.v1, apiKey: 'unused', maxRetries: 0 });
  const ask = (gw: TestGateway, headers: Record<string, string> = {}) =>
    sdk(gw).chat.completions.create(
      {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `Say hello (${randomBytes(3).toString('hex')}).` }],
      },
      { headers },
    );
  const circuitOf = async (gw: TestGateway) => {
    const stats = (await (await fetch(`${gw.v1}/stats`)).json()) as {
      circuits: Record<string, { state: string }>;
    };
    return stats.circuits['simulated-openai'].state;
  };
  const refusal = (status: number, pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof OpenAI.APIError, `an API error, got ${String(error)}`);
    assert.equal(error.status, status);
    assert.match(error.message, pattern);
    return true;
  };

  it('A opens the circuit; B skips the upstream without an attempt; one probe closes it for both', async () => {
    mock.reset();
    for (let i = 0; i < 2; i++) await assert.rejects(ask(a, { 'x-mock-fault': '500' }), refusal(500, /./));
    assert.equal(mock.counts().attempts, 2);
    assert.equal(await circuitOf(a), 'open', 'A opened it after two failures in a row');
    assert.equal(await circuitOf(b), 'closed', 'B has seen no failure of its own');

    await assert.rejects(ask(b), refusal(503, /circuit open/));
    assert.equal(mock.counts().attempts, 2, 'B sent nothing to the upstream A found dead');
    assert.equal(await circuitOf(b), 'open', 'B now mirrors the shared state');

    await sleep(COOLDOWN_MS + 100);
    // Half-open: A's request takes the probe and holds it (the upstream answers after 800 ms).
    const probe = ask(a, { 'x-mock-fault': 'slow', 'x-mock-slow-ms': '800' });
    const until = Date.now() + 5_000;
    while (mock.counts().attempts < 3 && Date.now() < until) await sleep(10);
    assert.equal(mock.counts().attempts, 3, 'the probe reached the upstream');
    await assert.rejects(ask(b), refusal(503, /probe is running/));
    assert.equal(mock.counts().attempts, 3, "B did not probe while A's probe ran");

    const answered = await probe;
    assert.ok(answered.choices[0].message.content);
    // The probe's success closed the shared circuit: B answers again without a cool-down of its own.
    const viaB = await ask(b);
    assert.ok(viaB.choices[0].message.content);
    assert.equal(await circuitOf(b), 'closed');
    assert.equal(await circuitOf(a), 'closed');
    assert.equal(mock.counts().attempts, 4);
  });
});
