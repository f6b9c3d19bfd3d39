import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type MockUpstream, startMockUpstream } from '../src/mock/index.js';
import { postJson, postStream, userChat, userMessage } from './mock-helpers.js';

describe('mock upstream: faults by header', () => {
  let mock: MockUpstream;
  let chatUrl: string;
  before(async () => {
    mock = await startMockUpstream();
    chatUrl = `${mock.url}/v1/chat/completions`;
  });
  after(() => mock.close());

  it('answers 429 in provider shape with retry-after (default 1 s, or as asked)', async () => {
    const plain = await postJson(chatUrl, userChat('hi'), { 'x-mock-fault': '429' });
    assert.equal(plain.status, 429);
    assert.equal(plain.headers.get('retry-after'), '1');
    assert.equal(plain.json.error.type, 'rate_limit_error');
    assert.equal(plain.json.error.code, 'rate_limit_exceeded');
    const asked = await postJson(chatUrl, userChat('hi'), {
      'x-mock-fault': '429',
      'x-mock-retry-after': '7',
      'x-mock-retry-after-ms': '6500',
    });
    assert.equal(asked.headers.get('retry-after'), '7');
    assert.equal(asked.headers.get('retry-after-ms'), '6500');
    const msOnly = await postJson(chatUrl, userChat('hi'), {
      'x-mock-fault': '429',
      'x-mock-retry-after-ms': '20',
    });
    assert.equal(msOnly.headers.get('retry-after-ms'), '20');
    assert.equal(msOnly.headers.get('retry-after'), null);
    const anthropic = await postJson(`${mock.url}/v1/messages`, userMessage('hi'), { 'x-mock-fault': '429' });
    assert.deepEqual(anthropic.json.error.type, 'rate_limit_error');
    assert.equal(anthropic.json.type, 'error');
  });

  it('answers 500 and 503 in provider shape', async () => {
    const e500 = await postJson(chatUrl, userChat('hi'), { 'x-mock-fault': '500' });
    assert.equal(e500.status, 500);
    assert.equal(e500.json.error.type, 'server_error');
    const e503 = await postJson(`${mock.url}/v1/messages`, userMessage('hi'), { 'x-mock-fault': '503' });
    assert.equal(e503.status, 503);
    assert.equal(e503.json.error.type, 'overloaded_error');
  });

  it('fails the first N requests per key, then succeeds', async () => {
    const headers = { 'x-mock-fail-times': '2', 'x-mock-fail-key': 'retry-test', 'x-mock-fault': '503' };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJson(chatUrl, userChat('retry'), headers)).status);
    assert.deepEqual(statuses, [503, 503, 200, 200]);
    // Another key has its own counter; the default failure is a 429.
    const other = { 'x-mock-fail-times': '1', 'x-mock-fail-key': 'other' };
    assert.equal((await postJson(chatUrl, userChat('retry'), other)).status, 429);
    assert.equal((await postJson(chatUrl, userChat('retry'), other)).status, 200);
  });

  it('drops the connection without a response', async () => {
    const before = mock.counts();
    await assert.rejects(postJson(chatUrl, userChat('hi'), { 'x-mock-fault': 'drop' }));
    const afterDrop = mock.counts();
    assert.equal(afterDrop.total, before.total, 'a dropped request is not a completed call');
    assert.equal(afterDrop.attempts, before.attempts + 1, 'but it is an attempt');
    assert.equal((await postJson(chatUrl, userChat('hi'))).status, 200, 'the mock keeps serving');
  });

  it('drops a stream after a few chunks', async () => {
    const res = await fetch(chatUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-fault': 'drop-mid-stream' },
      body: JSON.stringify(userChat('stream then die', { stream: true })),
    });
    assert.equal(res.status, 200);
    let received = '';
    await assert.rejects(async () => {
      for await (const chunk of res.body!) received += Buffer.from(chunk).toString();
    });
    assert.ok(received.includes('chat.completion.chunk'), 'some chunks arrived first');
    assert.ok(!received.includes('[DONE]'));
  });

  it('delays a slow request by x-mock-slow-ms', async () => {
    const started = performance.now();
    const res = await postJson(chatUrl, userChat('slowly'), {
      'x-mock-fault': 'slow',
      'x-mock-slow-ms': '150',
    });
    assert.equal(res.status, 200);
    assert.ok(performance.now() - started >= 140, 'not answered before the delay');
  });

  it('survives a client that aborts a hanging request and a slow stream', async () => {
    const hang = new AbortController();
    const pending = fetch(chatUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-fault': 'hang' },
      body: JSON.stringify(userChat('hang')),
      signal: hang.signal,
    });
    setTimeout(() => hang.abort(), 50);
    await assert.rejects(pending);

    const before = mock.counts().total;
    const slow = new AbortController();
    const res = await fetch(chatUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-token-delay-ms': '50' },
      body: JSON.stringify(userChat('slow stream', { stream: true })),
      signal: slow.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    slow.abort();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(mock.counts().total, before, 'an aborted stream never completes');
    assert.equal((await postJson(chatUrl, userChat('still alive'))).status, 200);
  });

  it('rejects an unknown fault name', async () => {
    const res = await postJson(chatUrl, userChat('hi'), { 'x-mock-fault': 'explode' });
    assert.equal(res.status, 400);
    assert.match(res.json.error.message, /explode/);
  });
});

describe('mock upstream: global faults and bookkeeping', () => {
  it('draws global faults from a seeded PRNG: the same seed gives the same sequence', async () => {
    const sequence = async (seed: number) => {
      const mock = await startMockUpstream({ seed, faults: { rate429: 0.3, rate500: 0.2 } });
      try {
        const out: number[] = [];
        for (let i = 0; i < 30; i++)
          out.push((await postJson(`${mock.url}/v1/chat/completions`, userChat(`q${i}`))).status);
        return out;
      } finally {
        await mock.close();
      }
    };
    const a = await sequence(42);
    assert.deepEqual(await sequence(42), a);
    assert.notDeepEqual(await sequence(7), a);
    assert.ok(a.includes(429) && a.includes(500) && a.includes(200), a.join(','));
  });

  it('counts completed calls per path and model, keeps the last 200 requests, and resets', async () => {
    const mock = await startMockUpstream({ latencyMs: 30 });
    try {
      const chatUrl = `${mock.url}/v1/chat/completions`;
      // Concurrent identical requests are separate upstream calls here (the gateway's
      // single-flight is what should collapse them).
      await Promise.all([1, 2, 3].map(() => postJson(chatUrl, userChat('same'))));
      await postJson(chatUrl, userChat('other', { model: 'gpt-4o' }));
      await postStream(`${mock.url}/v1/messages`, userMessage('hi', { stream: true }));
      await postJson(chatUrl, userChat('fails'), { 'x-mock-fault': '500' });
      const counts = mock.counts();
      assert.equal(counts.total, 5);
      assert.equal(counts.attempts, 6);
      assert.deepEqual(counts.byPath, { '/v1/chat/completions': 4, '/v1/messages': 1 });
      assert.deepEqual(counts.byModel, { 'gpt-4o-mini': 3, 'gpt-4o': 1, 'claude-haiku-4-5': 1 });
      const seen = mock.received;
      assert.equal(seen.length, 6);
      assert.equal(seen.at(-1)?.path, '/v1/chat/completions');
      assert.equal(seen.at(-1)?.headers['x-mock-fault'], '500');
      assert.deepEqual(seen.at(-1)?.body, userChat('fails'));

      await Promise.all(Array.from({ length: 210 }, (_, i) => postJson(chatUrl, userChat(`n${i}`))));
      assert.equal(seen.length, 200, 'a bounded ring');
      mock.reset();
      assert.equal(mock.received.length, 0);
      assert.deepEqual(mock.counts(), { total: 0, attempts: 0, byPath: {}, byModel: {} });
    } finally {
      await mock.close();
    }
  });

  it('closes promptly with a request still hanging', async () => {
    const mock = await startMockUpstream();
    const pending = postJson(`${mock.url}/v1/chat/completions`, userChat('hang'), { 'x-mock-fault': 'hang' });
    while (mock.counts().attempts === 0) await new Promise((r) => setTimeout(r, 5));
    await mock.close();
    await assert.rejects(pending);
  });
});
