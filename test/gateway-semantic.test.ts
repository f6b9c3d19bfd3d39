import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

// Uses the real offline embedder (USE-lite in a worker thread): no network, ~1-2 s to load.
describe('semantic cache (L2) through the HTTP gateway', () => {
  let gw: TestGateway;
  let client: OpenAI;
  before(async () => {
    gw = await startTestGateway({ semantic: { enabled: true } });
    client = new OpenAI({
      baseURL: gw.v1,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-sluice-user': 'sam' },
    });
  });
  after(() => gw.close());

  const ask = (content: string, user = 'sam') =>
    client.chat.completions
      .create(
        { model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] },
        { headers: { 'x-sluice-user': user } },
      )
      .withResponse();

  it('answers a rephrased question from the cache and rejects the classic traps', async () => {
    const first = await ask('How do I reset my password?');
    assert.equal(first.response.headers.get('x-sluice-cache'), 'miss');
    // The insert happens after the reply; give the embedder a moment.
    await new Promise((r) => setTimeout(r, 300));
    const rephrased = await ask('How can I reset my password?');
    assert.equal(rephrased.response.headers.get('x-sluice-cache'), 'semantic');
    assert.ok(Number(rephrased.response.headers.get('x-sluice-similarity')) > 0.8);
    assert.equal(rephrased.data.choices[0].message.content, first.data.choices[0].message.content);

    await ask('What is the capital of France?');
    await new Promise((r) => setTimeout(r, 300));
    const spain = await ask('What is the capital of Spain?');
    assert.equal(
      spain.response.headers.get('x-sluice-cache'),
      'miss',
      'a different country is a different question',
    );
    await ask('What is 2+3?');
    await new Promise((r) => setTimeout(r, 300));
    const other = await ask('What is 2+4?');
    assert.equal(other.response.headers.get('x-sluice-cache'), 'miss', 'different numbers, different answer');
  });

  it('never answers one user from another user’s entries', async () => {
    await ask('How do I cancel my subscription?', 'uma');
    await new Promise((r) => setTimeout(r, 300));
    const otherUser = await ask('How can I cancel my subscription?', 'victor');
    assert.equal(otherUser.response.headers.get('x-sluice-cache'), 'miss');
    const stats = (await (await fetch(`${gw.url}/v1/stats`)).json()) as { hits: { semantic: number } };
    assert.ok(stats.hits.semantic >= 1);
  });
});
