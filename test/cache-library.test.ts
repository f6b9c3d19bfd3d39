import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheConfigSchema, ExactCache, replaySse } from '../src/cache/index.js';
import { MemoryKvStore } from '../src/store/memory.js';

/** The cache used in-process, without the HTTP server or the pipeline. */
describe('exact cache as a library', () => {
  const completion = {
    id: 'chatcmpl-lib',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'Paris.', refusal: null }, finish_reason: 'stop' },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
  };
  const request = {
    dialect: 'openai' as const,
    route: 'chat' as const,
    body: {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Capital of France?' }],
      temperature: 0,
    },
    caller: { user: 'ann', team: 'blue' },
  };

  it('stores a response and finds it again, within the caller scope only', async () => {
    const cache = new ExactCache({ store: new MemoryKvStore(), config: cacheConfigSchema.parse({}) });
    assert.equal(await cache.get(request), undefined);
    assert.equal(await cache.set(request, completion), true);
    const hit = await cache.get(request);
    assert.deepEqual(hit?.json(), completion);
    assert.deepEqual(hit?.entry.usage, {
      inputTokens: 12,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 2,
    });
    assert.equal(await cache.get({ ...request, caller: { user: 'ann', team: 'red' } }), undefined);
    assert.ok(replaySse('openai', hit?.json() as Record<string, unknown>, false).length > 0);
    assert.deepEqual(
      { requests: cache.stats().requests, hits: cache.stats().hits },
      { requests: 3, hits: 1 },
      'set() is not a request',
    );
    await cache.close();
  });

  it('refuses what it must not keep', async () => {
    const cache = new ExactCache({ store: new MemoryKvStore(), config: cacheConfigSchema.parse({}) });
    assert.equal(
      await cache.set({ ...request, body: { ...request.body, temperature: 1 } }, completion),
      false,
    );
    const unfinished = { ...completion, choices: [{ ...completion.choices[0], finish_reason: null }] };
    assert.equal(await cache.set(request, unfinished), false);
    assert.equal(await cache.get(request), undefined);
    await cache.close();
  });
});
