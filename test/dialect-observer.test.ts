/**
 * One stream observer: a streamed reply's bytes are SSE-parsed once and each event's JSON at
 * most once, however many readers subscribe (usage meter, cache capture, usage-chunk stripping).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { LazyEvent, SseParser } from '../src/dialect/sse.js';
import { startTestGateway, type TestGateway } from './helpers.js';

describe('stream observer', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  it('a streamed, cacheable miss whose usage chunk is stripped is parsed once', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const chunksBefore = SseParser.chunksParsed;
    const parsesBefore = LazyEvent.parses;
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      temperature: 0,
      stream: true,
      messages: [{ role: 'user', content: `observe me ${Math.random()}` }],
    });
    let text = '';
    let events = 0;
    for await (const chunk of stream) {
      events++;
      assert.ok(chunk.choices.length > 0, 'the usage-only chunk the client did not ask for is stripped');
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.ok(text.length > 0);
    const upstream = gw.mock.received.at(-1);
    assert.ok(upstream);
    assert.deepEqual(
      (upstream.body as { stream_options?: unknown }).stream_options,
      { include_usage: true },
      'the gateway asked the upstream for usage',
    );
    const chunks = SseParser.chunksParsed - chunksBefore;
    const parses = LazyEvent.parses - parsesBefore;
    // Every JSON event (those the client got, plus the stripped usage chunk) parsed exactly once
    // although three readers (meter, capture, stripping) read them.
    assert.equal(parses, events + 1);
    assert.ok(chunks > 0);
    await gw.sluice.gateway.cache.flush();
    const stats = await gw.sluice.gateway.stats();
    assert.equal(stats.cache.writes, 1, 'the capture rebuilt the reply from the observed events');
  });
});
