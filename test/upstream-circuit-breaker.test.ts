import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import { createLogger } from '../src/observe/log.js';
import { CircuitBreaker, type CircuitSnapshot } from '../src/upstream/circuit-breaker.js';

describe('CircuitBreaker state machine', () => {
  it('opens after the threshold of consecutive failures; 429-like neutral results neither count nor reset', () => {
    let now = 10_000;
    const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1_000, now: () => now });
    const attempt = (verdict: 'success' | 'failure' | 'neutral') => {
      const decision = breaker.tryAcquire();
      assert.ok(decision.allowed, 'closed circuits let attempts through');
      decision.permit.settle(verdict);
    };
    attempt('failure');
    attempt('failure');
    attempt('success');
    assert.equal(breaker.snapshot().consecutive_failures, 0, 'a success resets the count');
    attempt('failure');
    attempt('neutral');
    attempt('failure');
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().consecutive_failures, 2);
    attempt('failure');
    assert.equal(breaker.state, 'open');
    const refused = breaker.tryAcquire();
    assert.equal(refused.allowed, false);
    if (!refused.allowed) {
      assert.equal(refused.retryAfterMs, 1_000);
      assert.match(refused.reason, /3 consecutive failures/);
    }
    now += 400;
    const snapshot: CircuitSnapshot = breaker.snapshot();
    assert.deepEqual(snapshot, {
      state: 'open',
      consecutive_failures: 3,
      opened_at: new Date(10_000).toISOString(),
      retry_in_ms: 600,
      opens: 1,
    });
  });

  it('half-opens after the cool-down with exactly one probe; a failed probe re-opens, a good one closes', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 500, now: () => now });
    const first = breaker.tryAcquire();
    assert.ok(first.allowed);
    first.permit.settle('failure');
    assert.equal(breaker.state, 'open');

    now = 500;
    assert.equal(breaker.state, 'half_open');
    const probe = breaker.tryAcquire();
    assert.ok(probe.allowed && probe.permit.probe, 'the first request after the cool-down is the probe');
    assert.equal(breaker.tryAcquire().allowed, false, 'no second request while the probe runs');
    if (probe.allowed) probe.permit.settle('failure');
    assert.equal(breaker.state, 'open', 'a failed probe opens the circuit again');
    assert.equal(breaker.snapshot().retry_in_ms, 500, 'for a whole new cool-down');
    assert.equal(breaker.snapshot().opens, 2);

    now = 1_000;
    const neutral = breaker.tryAcquire();
    assert.ok(neutral.allowed && neutral.permit.probe);
    if (neutral.allowed) {
      neutral.permit.settle('neutral');
      neutral.permit.settle('failure'); // settling twice changes nothing
    }
    assert.equal(breaker.state, 'half_open', 'a neutral probe frees the slot');

    const good = breaker.tryAcquire();
    assert.ok(good.allowed && good.permit.probe);
    if (good.allowed) good.permit.settle('success');
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.snapshot(), {
      state: 'closed',
      consecutive_failures: 0,
      opened_at: null,
      retry_in_ms: 0,
      opens: 2,
    });
  });

  it('rejects bad options', () => {
    assert.throws(() => new CircuitBreaker({ failureThreshold: 0, cooldownMs: 1 }), TypeError);
    assert.throws(() => new CircuitBreaker({ failureThreshold: 1, cooldownMs: 0 }), TypeError);
  });
});

const chat = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'are you up?' }] });

async function stats(url: string): Promise<{ circuits: Record<string, CircuitSnapshot> }> {
  const res = await fetch(`${url}/v1/stats`);
  return (await res.json()) as { circuits: Record<string, CircuitSnapshot> };
}

describe('circuit breaker in the gateway', () => {
  it('a primary failing with 500 opens; the fallback answers at once with no new attempts on the primary; a probe after the cool-down closes it', async () => {
    const primary = await startMockUpstream();
    const fallback = await startMockUpstream();
    const config = validateConfig({
      port: 0,
      logLevel: 'silent',
      retry: { maxAttempts: 2, baseDelayMs: 300, maxDelayMs: 300 },
      circuitBreaker: { failureThreshold: 3, cooldownMs: 600 },
      upstreams: [
        // Only the primary sees the client's x-mock-fault header: it fails, the fallback does not.
        {
          name: 'primary',
          kind: 'openai',
          baseUrl: `${primary.url}/v1`,
          models: ['model-a'],
          forwardHeaderPrefixes: ['x-mock-'],
        },
        { name: 'backup', kind: 'openai', baseUrl: `${fallback.url}/v1`, models: ['model-b'] },
      ],
      fallbacks: { 'model-a': ['model-b'] },
    });
    const sluice = await startSluice({ config });
    const client = new OpenAI({ baseURL: `${sluice.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const failing = { headers: { 'x-mock-fault': '500' } };
    try {
      // Request 1: two failed attempts on the primary, then the fallback. Request 2: the third
      // failure opens the circuit, and the fallback answers without the backoff wait.
      for (let i = 0; i < 2; i++) {
        const { data, response } = await client.chat.completions
          .create(chat('model-a'), failing)
          .withResponse();
        assert.equal(response.headers.get('x-sluice-model'), 'model-b');
        assert.equal(data.model, 'model-b');
      }
      assert.equal(primary.counts().attempts, 3);
      let view = await stats(sluice.url);
      assert.equal(view.circuits.primary.state, 'open');
      assert.equal(view.circuits.primary.consecutive_failures, 3);
      assert.match(view.circuits.primary.opened_at ?? '', /^\d{4}-\d\d-\d\dT/);
      assert.equal(view.circuits.backup.state, 'closed');

      // While open: the fallback answers at once; the primary sees nothing.
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const { response } = await client.chat.completions.create(chat('model-a'), failing).withResponse();
        assert.equal(response.headers.get('x-sluice-model'), 'model-b');
        assert.ok(
          Date.now() - started < 250,
          `answered in ${Date.now() - started} ms, without a 300 ms backoff`,
        );
      }
      assert.equal(primary.counts().attempts, 3, 'no new attempts on the open primary');
      assert.equal(fallback.counts().total, 7);

      // After the cool-down: one probe. It fails: open again, the fallback answers.
      await new Promise((r) => setTimeout(r, 650));
      assert.equal((await stats(sluice.url)).circuits.primary.state, 'half_open');
      const { response: afterProbe } = await client.chat.completions
        .create(chat('model-a'), failing)
        .withResponse();
      assert.equal(afterProbe.headers.get('x-sluice-model'), 'model-b');
      assert.equal(primary.counts().attempts, 4, 'exactly one probe');
      view = await stats(sluice.url);
      assert.equal(view.circuits.primary.state, 'open');
      assert.equal(view.circuits.primary.opens, 2);

      // Next cool-down: the primary has recovered; the probe succeeds and closes the circuit.
      await new Promise((r) => setTimeout(r, 650));
      const { response: recovered } = await client.chat.completions.create(chat('model-a')).withResponse();
      assert.equal(recovered.headers.get('x-sluice-model'), 'model-a');
      view = await stats(sluice.url);
      assert.equal(view.circuits.primary.state, 'closed');
      assert.equal(view.circuits.primary.consecutive_failures, 0);
    } finally {
      await sluice.close();
      await primary.close();
      await fallback.close();
    }
  });

  it('a primary on a closed port opens after the threshold: no more connection attempts, and 503 with Retry-After when nothing else is open', async () => {
    const fallback = await startMockUpstream();
    const attempts: Array<{ upstream?: string }> = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        const line = JSON.parse(String(chunk)) as { msg: string; upstream?: string };
        if (line.msg === 'upstream attempt failed') attempts.push(line);
        cb();
      },
    });
    const config = validateConfig({
      port: 0,
      retry: { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 200 },
      circuitBreaker: { failureThreshold: 2, cooldownMs: 30_000 },
      upstreams: [
        { name: 'dead', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', models: ['model-a', 'model-c'] },
        { name: 'backup', kind: 'openai', baseUrl: `${fallback.url}/v1`, models: ['model-b'] },
      ],
      fallbacks: { 'model-a': ['model-b'] },
    });
    const sluice = await startSluice({ config, log: createLogger('warn', [], sink) });
    const client = new OpenAI({ baseURL: `${sluice.url}/v1`, apiKey: 'x', maxRetries: 0 });
    try {
      const first = await client.chat.completions.create(chat('model-a')).withResponse();
      assert.equal(first.response.headers.get('x-sluice-model'), 'model-b');
      const onDead = () => attempts.filter((a) => a.upstream === 'dead').length;
      assert.equal(
        onDead(),
        2,
        'the second refused connection opened the circuit; the third attempt was not made',
      );

      for (let i = 0; i < 4; i++) {
        const started = Date.now();
        const { response } = await client.chat.completions.create(chat('model-a')).withResponse();
        assert.equal(response.headers.get('x-sluice-model'), 'model-b');
        assert.ok(Date.now() - started < 150, 'no backoff waits on the open upstream');
      }
      assert.equal(onDead(), 2, 'no new connection attempts on the dead upstream');

      // model-c has no fallback: its only upstream is open.
      const res = await fetch(`${sluice.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(chat('model-c')),
      });
      assert.equal(res.status, 503);
      const retryAfter = Number(res.headers.get('retry-after'));
      assert.ok(
        retryAfter > 25 && retryAfter <= 30,
        `Retry-After is the remaining cool-down (${retryAfter} s)`,
      );
      const body = (await res.json()) as { error: { code: string; message: string; type: string } };
      assert.equal(body.error.code, 'circuit_open');
      assert.equal(body.error.type, 'service_unavailable');
      assert.match(body.error.message, /'dead' \(circuit open after 2 consecutive failures\)/);
      assert.equal(onDead(), 2);
      const view = await stats(sluice.url);
      assert.equal(view.circuits.dead.state, 'open');
    } finally {
      await sluice.close();
      await fallback.close();
    }
  });

  it('can be turned off per upstream', async () => {
    const config = validateConfig({
      port: 0,
      logLevel: 'silent',
      retry: { maxAttempts: 1 },
      circuitBreaker: { failureThreshold: 1 },
      upstreams: [
        {
          name: 'dead',
          kind: 'openai',
          baseUrl: 'http://127.0.0.1:9/v1',
          circuitBreaker: { enabled: false },
        },
      ],
    });
    const sluice = await startSluice({ config });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${sluice.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(chat('gpt-4o-mini')),
        });
        assert.equal(res.status, 502, 'still tried every time: unreachable, not circuit_open');
        await res.arrayBuffer();
      }
      assert.deepEqual((await stats(sluice.url)).circuits, {});
    } finally {
      await sluice.close();
    }
  });
});
