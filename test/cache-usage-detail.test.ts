import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * Issue 13 point 3: a stream stored without `include_usage` keeps the upstream's full usage
 * object, so a replay with usage (streamed or JSON) carries the reasoning and audio detail.
 */
describe('exact-cache replays keep the usage detail', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  it('a reasoning reply first streamed without include_usage, replayed with it and as JSON', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const upstream = new OpenAI({ baseURL: `${gw.mock.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: `think about ${Math.random()}` }];
    const request = { model: 'o4-mini', temperature: 0, messages };

    // What the provider itself reports for this request (the mock is deterministic).
    const direct = await upstream.chat.completions.create({ ...request, stream: false });
    const original = direct.usage;
    assert.ok(original?.completion_tokens_details?.reasoning_tokens, 'the mock reports reasoning tokens');
    assert.ok(original.prompt_tokens_details && 'audio_tokens' in original.prompt_tokens_details);

    const calls = gw.mock.counts().total;
    const first = await client.chat.completions.create({ ...request, stream: true }).withResponse();
    assert.equal(first.response.headers.get('x-sluice-cache'), 'miss');
    for await (const chunk of first.data) assert.ok(!chunk.usage, 'no usage asked, none sent');

    const streamed = await client.chat.completions
      .create({ ...request, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(streamed.response.headers.get('x-sluice-cache'), 'exact');
    let replayedUsage: unknown;
    for await (const chunk of streamed.data) if (chunk.usage) replayedUsage = chunk.usage;
    assert.deepEqual(replayedUsage, original);

    const json = await client.chat.completions.create({ ...request, stream: false }).withResponse();
    assert.equal(json.response.headers.get('x-sluice-cache'), 'exact');
    assert.deepEqual(json.data.usage, original);
    assert.equal(gw.mock.counts().total, calls + 1, 'one upstream call for all three');
  });
});
