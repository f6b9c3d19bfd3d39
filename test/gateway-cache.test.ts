import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

describe('exact cache and single-flight through the HTTP gateway', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({}, { tokenDelayMs: 2 });
  });
  after(() => gw.close());

  const openai = (user: string) =>
    new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0, defaultHeaders: { 'x-sluice-user': user } });

  it('a streamed miss, then a streaming hit and a non-streaming hit, give identical content', async () => {
    const client = openai('alice');
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: `cache me ${Math.random()}` }],
    };
    const first = await client.chat.completions
      .create({ ...params, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(first.response.headers.get('x-sluice-cache'), 'miss');
    let missText = '';
    for await (const c of first.data) missText += c.choices[0]?.delta?.content ?? '';
    const before = gw.mock.counts().total;

    const again = await client.chat.completions.create({ ...params, stream: true }).withResponse();
    assert.equal(again.response.headers.get('x-sluice-cache'), 'exact');
    let hitText = '';
    let chunks = 0;
    for await (const c of again.data) {
      chunks++;
      hitText += c.choices[0]?.delta?.content ?? '';
    }
    assert.equal(hitText, missText);
    assert.ok(chunks > 2, 'a hit is replayed in several chunks, not one blob');

    const plain = await client.chat.completions.create(params).withResponse();
    assert.equal(plain.response.headers.get('x-sluice-cache'), 'exact');
    assert.equal(plain.data.choices[0].message.content, missText);
    assert.equal(gw.mock.counts().total, before, 'hits never reached the upstream');
  });

  it('never serves one caller scope from another', async () => {
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: 'scoped question' }],
    };
    const a = await openai('tenant-a').chat.completions.create(params).withResponse();
    const b = await openai('tenant-b').chat.completions.create(params).withResponse();
    assert.equal(a.response.headers.get('x-sluice-cache'), 'miss');
    assert.equal(b.response.headers.get('x-sluice-cache'), 'miss');
    const a2 = await openai('tenant-a').chat.completions.create(params).withResponse();
    assert.equal(a2.response.headers.get('x-sluice-cache'), 'exact');
  });

  it('honours cache-control: no-store and does not cache non-deterministic requests', async () => {
    const client = openai('carol');
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: 'no store please' }],
    };
    await client.chat.completions.create(params, { headers: { 'cache-control': 'no-store' } });
    const next = await client.chat.completions.create(params).withResponse();
    assert.equal(next.response.headers.get('x-sluice-cache'), 'miss');
    const hot = { ...params, temperature: 0.9 };
    await client.chat.completions.create(hot);
    const hot2 = await client.chat.completions.create(hot).withResponse();
    assert.equal(hot2.response.headers.get('x-sluice-cache'), 'bypass');
  });

  it('collapses identical concurrent requests into one upstream call', async () => {
    const client = openai('dave');
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: `flight ${Math.random()}` }],
    };
    const before = gw.mock.counts().total;
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => client.chat.completions.create(params)),
    );
    assert.equal(gw.mock.counts().total - before, 1);
    assert.ok(replies.every((r) => r.choices[0].message.content === replies[0].choices[0].message.content));
  });

  it('caches Anthropic messages and replays the event stream', async () => {
    const client = new Anthropic({
      baseURL: gw.url,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-sluice-user': 'erin' },
    });
    const params = {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 100,
      temperature: 0,
      messages: [{ role: 'user' as const, content: 'anthropic cache' }],
    };
    const miss = await client.messages.create(params);
    const before = gw.mock.counts().total;
    const final = await client.messages.stream(params).finalMessage();
    assert.deepEqual(final.content, miss.content);
    assert.equal(gw.mock.counts().total, before);
  });
});

describe('x-sluice-cache-reason says why an answer was not cached', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  const post = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(`${gw.v1}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-4o-mini', ...body }),
    }).then(async (res) => {
      await res.arrayBuffer();
      return { cache: res.headers.get('x-sluice-cache'), reason: res.headers.get('x-sluice-cache-reason') };
    });
  const messages = (text: string) => [{ role: 'user', content: `${text} ${Math.random()}` }];

  it('the README example without temperature is a bypass that says nondeterministic', async () => {
    const m = messages('Hello');
    assert.deepEqual(await post({ messages: m }), { cache: 'bypass', reason: 'nondeterministic' });
    assert.deepEqual(await post({ messages: m }), { cache: 'bypass', reason: 'nondeterministic' });
  });

  it('the README example with temperature 0 is a miss, then a hit, with no reason', async () => {
    const m = messages('Hello');
    assert.deepEqual(await post({ messages: m, temperature: 0 }), { cache: 'miss', reason: null });
    assert.deepEqual(await post({ messages: m, temperature: 0 }), { cache: 'exact', reason: null });
  });

  it('names no-store, n>1 and a zero TTL', async () => {
    assert.deepEqual(
      await post({ messages: messages('a'), temperature: 0 }, { 'cache-control': 'no-store' }),
      {
        cache: 'bypass',
        reason: 'no-store',
      },
    );
    assert.deepEqual(await post({ messages: messages('b'), temperature: 0, n: 2 }), {
      cache: 'bypass',
      reason: 'n>1',
    });
    const m = messages('c');
    assert.deepEqual(await post({ messages: m, temperature: 0 }, { 'x-sluice-cache-ttl': '0' }), {
      cache: 'miss',
      reason: 'ttl-0',
    });
    assert.equal((await post({ messages: m, temperature: 0 })).cache, 'miss', 'nothing was stored');
  });
});
