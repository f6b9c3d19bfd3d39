import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';
import { waitFor } from './wait-for.js';

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

  // Every miss answered with 200 adds one semantic entry once its reply has gone out.
  let misses = 0;
  const ask = async (content: string, user = 'sam') => {
    const reply = await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] },
        { headers: { 'x-sluice-user': user } },
      )
      .withResponse();
    if (reply.response.headers.get('x-sluice-cache') === 'miss') misses++;
    return reply;
  };

  /** The semantic insert runs after the reply: wait for every miss's entry, and for the exact
   * cache to hold the stored answers those entries point to. */
  async function stored(): Promise<void> {
    const { gateway } = gw.sluice;
    await waitFor(`${misses} semantic entries`, () => gateway.semantic?.cache.size() === misses);
    await gateway.cache.flush();
  }

  it('answers a rephrased question from the cache and rejects the classic traps', async () => {
    const first = await ask('How do I reset my password?');
    assert.equal(first.response.headers.get('x-sluice-cache'), 'miss');
    await stored();
    const rephrased = await ask('How can I reset my password?');
    assert.equal(rephrased.response.headers.get('x-sluice-cache'), 'semantic');
    assert.ok(Number(rephrased.response.headers.get('x-sluice-similarity')) > 0.8);
    assert.equal(rephrased.data.choices[0].message.content, first.data.choices[0].message.content);

    await ask('What is the capital of France?');
    await stored();
    const spain = await ask('What is the capital of Spain?');
    assert.equal(
      spain.response.headers.get('x-sluice-cache'),
      'miss',
      'a different country is a different question',
    );
    await ask('What is 2+3?');
    await stored();
    const other = await ask('What is 2+4?');
    assert.equal(other.response.headers.get('x-sluice-cache'), 'miss', 'different numbers, different answer');
  });

  it('never answers one user from another user’s entries', async () => {
    const semanticHits = async () =>
      ((await (await fetch(`${gw.url}/v1/stats`)).json()) as { hits: { semantic: number } }).hits.semantic;
    await ask('How do I cancel my subscription?', 'uma');
    await stored();
    const hitsBefore = await semanticHits();
    const otherUser = await ask('How can I cancel my subscription?', 'victor');
    assert.equal(otherUser.response.headers.get('x-sluice-cache'), 'miss');
    // The same rephrasing from the entry's own user is a hit: the miss above was the user boundary.
    const sameUser = await ask('How can I cancel my subscription?', 'uma');
    assert.equal(sameUser.response.headers.get('x-sluice-cache'), 'semantic');
    assert.equal(await semanticHits(), hitsBefore + 1);
  });
});
