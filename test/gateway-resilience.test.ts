import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import { createLogger } from '../src/observe/log.js';
import { startTestGateway } from './helpers.js';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'retry me' }] };

describe('retries, timeouts, fallbacks and aborts', () => {
  it('retries 429s and honours retry-after-ms before succeeding', async () => {
    const gw = await startTestGateway({ retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 } });
    try {
      const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
      const started = Date.now();
      const res = await client.chat.completions.create(chat, {
        headers: {
          'x-mock-fault': '429',
          'x-mock-fail-times': '2',
          'x-mock-fail-key': `k-${Math.random()}`,
          'x-mock-retry-after-ms': '300',
        },
      });
      const elapsed = Date.now() - started;
      assert.ok(res.choices[0].message.content);
      assert.ok(elapsed >= 600, `two waits of 300 ms were honoured (took ${elapsed} ms)`);
    } finally {
      await gw.close();
    }
  });

  it('retries 500s, then passes the last 429 through with its retry-after when attempts run out', async () => {
    const gw = await startTestGateway({ retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 20 } });
    try {
      const ok = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-mock-fault': '500',
          'x-mock-fail-times': '1',
          'x-mock-fail-key': `k-${Math.random()}`,
        },
        body: JSON.stringify(chat),
      });
      assert.equal(ok.status, 200);
      const limited = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mock-fault': '429', 'x-mock-retry-after-ms': '10' },
        body: JSON.stringify(chat),
      });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after-ms'), '10');
      const body = (await limited.json()) as { error: { type: string } };
      assert.equal(body.error.type, 'rate_limit_error');
    } finally {
      await gw.close();
    }
  });

  it('does not retry when the Retry-After wait would pass the deadline', async () => {
    const gw = await startTestGateway({ retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } });
    try {
      const started = Date.now();
      const res = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-mock-fault': '429',
          'x-mock-retry-after': '30',
          'x-sluice-timeout-ms': '2000',
        },
        body: JSON.stringify(chat),
      });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '30');
      assert.ok(Date.now() - started < 2000, 'answered without waiting 30 s');
    } finally {
      await gw.close();
    }
  });

  it('answers 504 when the upstream does not send headers in time', async () => {
    const gw = await startTestGateway({
      timeouts: { connectMs: 1000, firstByteMs: 200, idleMs: 1000 },
      retry: { maxAttempts: 1 },
    });
    try {
      const res = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mock-fault': 'hang' },
        body: JSON.stringify(chat),
      });
      assert.equal(res.status, 504);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'upstream_timeout');
    } finally {
      await gw.close();
    }
  });

  it('answers 502 when the upstream is unreachable, and never logs or returns the provider key', async () => {
    const secret = 'sk-live-SECRET-0123456789abcdef';
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const config = validateConfig({
      port: 0,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      upstreams: [{ name: 'dead', kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'DEAD_KEY' }],
    });
    const env = { DEAD_KEY: secret };
    const sluice = await startSluice({ config, env, log: createLogger('debug', [secret], sink) });
    try {
      const res = await fetch(`${sluice.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(chat),
      });
      assert.equal(res.status, 502);
      const text = await res.text();
      assert.ok(!text.includes(secret));
      assert.ok(lines.length > 0, 'failed attempts are logged');
      assert.ok(lines.every((l) => !l.includes(secret)));
    } finally {
      await sluice.close();
    }
  });

  it('sends the provider key upstream without exposing it', async () => {
    const secret = 'sk-upstream-key-abcdef123456';
    const mock = await startMockUpstream({ apiKey: secret });
    const config = validateConfig({
      port: 0,
      logLevel: 'silent',
      upstreams: [{ name: 'keyed', kind: 'openai', baseUrl: `${mock.url}/v1`, apiKeyEnv: 'KEYED' }],
    });
    const sluice = await startSluice({ config, env: { KEYED: secret } });
    try {
      const res = await fetch(`${sluice.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
        body: JSON.stringify(chat),
      });
      assert.equal(res.status, 200);
      assert.ok(!(await res.text()).includes(secret));
      assert.equal(mock.received.at(-1)?.headers.authorization, `Bearer ${secret}`);
    } finally {
      await sluice.close();
      await mock.close();
    }
  });

  it('falls back to the next configured model when the first upstream keeps failing', async () => {
    const bad = await startMockUpstream({ faults: { rate500: 1 } });
    const good = await startMockUpstream();
    const config = validateConfig({
      port: 0,
      logLevel: 'silent',
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      upstreams: [
        { name: 'primary', kind: 'openai', baseUrl: `${bad.url}/v1`, models: ['model-a'] },
        { name: 'backup', kind: 'openai', baseUrl: `${good.url}/v1`, models: ['model-b'] },
      ],
      fallbacks: { 'model-a': ['model-b'] },
    });
    const sluice = await startSluice({ config });
    try {
      const res = await fetch(`${sluice.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...chat, model: 'model-a' }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-sluice-model'), 'model-b');
      const body = (await res.json()) as { model: string };
      assert.equal(body.model, 'model-b');
      assert.equal(good.counts().total, 1);
    } finally {
      await sluice.close();
      await bad.close();
      await good.close();
    }
  });

  it('cancels the upstream request when the client disconnects mid-stream', async () => {
    const gw = await startTestGateway({}, { tokenDelayMs: 100 });
    try {
      const ac = new AbortController();
      const res = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...chat, stream: true }),
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort();
      const pool = gw.sluice.gateway.pools.get('simulated-openai').pool;
      for (let i = 0; i < 50 && pool.stats.running > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(pool.stats.running, 0, 'no upstream request left running');
      assert.equal(gw.mock.counts().total, 0, 'the upstream never completed the cancelled stream');
    } finally {
      await gw.close();
    }
  });
});
