import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SemanticCache } from '../src/cache/semantic/cache.js';
import { semanticCacheConfigSchema } from '../src/cache/semantic/config.js';
import { semanticCacheStage } from '../src/cache/semantic/stage.js';
import { verifierFor } from '../src/cache/semantic/verifier.js';
import { USE_LITE_VERIFIER } from '../src/cache/semantic/verifier-model.js';
import { compose } from '../src/pipeline/compose.js';
import { createContext } from '../src/pipeline/context.js';
import type { JsonReply, Reply, Stage } from '../src/pipeline/types.js';
import { WordHashEmbedder } from './semantic-helpers.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A minimal stand-in for the exact stage and the upstream: keys by the full last message,
 * stores every 200 answer, and answers misses with a body that names the question.
 */
function harness(configOverrides: Record<string, unknown> = {}) {
  const embedder = new WordHashEmbedder();
  const cache = new SemanticCache({
    embedder,
    verifier: verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
  });
  const stored = new Map<string, Uint8Array>();
  let upstreamCalls = 0;
  const exact: Stage = async (ctx, next) => {
    const key = `exact:${JSON.stringify(ctx.body.messages)}`;
    ctx.cacheKey = key;
    const body = stored.get(key);
    if (body) {
      ctx.cache = 'exact';
      return { kind: 'json', status: 200, headers: {}, body };
    }
    ctx.cache = 'miss';
    const reply = await next();
    if (reply.kind === 'json' && ctx.cache === 'miss') stored.set(key, reply.body);
    return reply;
  };
  const upstream: Stage = async (ctx) => {
    upstreamCalls++;
    const messages = ctx.body.messages as Array<{ content: string }>;
    return json({ answer: `about: ${messages.at(-1)?.content}` });
  };
  const config = semanticCacheConfigSchema.parse({ enabled: true, ...configOverrides });
  const semantic = semanticCacheStage({
    cache,
    config,
    resolve: async (entryKey) => {
      const body = stored.get(entryKey);
      return body ? { kind: 'json', status: 200, headers: {}, body } : undefined;
    },
  });
  const run = compose([exact, semantic, upstream]);
  const ask = async (content: string, extra: { user?: string; headers?: Record<string, string> } = {}) => {
    const ctx = createContext({
      dialect: 'openai',
      route: 'chat',
      headers: { ...(extra.user ? { 'x-sluice-user': extra.user } : {}), ...extra.headers },
      body: { model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] },
      signal: new AbortController().signal,
      timeoutMs: 10_000,
    });
    const reply = await run(ctx);
    await new Promise((resolve) => setImmediate(resolve)); // let the deferred insert run
    return { ctx, body: JSON.parse(decoder.decode((reply as JsonReply).body)) as { answer: string } };
  };
  return { ask, cache, stored, upstreamCalls: () => upstreamCalls };
}

function json(value: unknown): Reply {
  return {
    kind: 'json',
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: encoder.encode(JSON.stringify(value)),
  };
}

describe('semanticCacheStage', () => {
  it('answers a reworded question from the stored answer and marks the reply', async () => {
    const h = harness();
    const first = await h.ask('how do I reset my router password');
    assert.equal(first.ctx.cache, 'miss');
    const second = await h.ask('how do I reset my router password please');
    assert.equal(second.ctx.cache, 'semantic');
    assert.equal(second.body.answer, 'about: how do I reset my router password');
    assert.equal(second.ctx.responseHeaders['x-sluice-cache'], 'semantic');
    assert.ok(Number(second.ctx.responseHeaders['x-sluice-similarity']) > 0.9);
    assert.equal(h.upstreamCalls(), 1);
  });

  it('keeps users apart by default', async () => {
    const h = harness();
    await h.ask('how do I reset my router password', { user: 'alice' });
    const bob = await h.ask('how do I reset my router password please', { user: 'bob' });
    assert.equal(bob.ctx.cache, 'miss');
    assert.equal(h.upstreamCalls(), 2);
  });

  it('honours cache-control: no-cache (no lookup) and no-store (no write)', async () => {
    const h = harness();
    await h.ask('what colour is the sky', { headers: { 'cache-control': 'no-store' } });
    assert.equal(h.cache.size(), 0);
    await h.ask('what colour is the sky');
    const refreshed = await h.ask('what colour is the sky today', {
      headers: { 'cache-control': 'no-cache' },
    });
    assert.equal(refreshed.ctx.cache, 'miss');
  });

  it('drops a pointer whose stored response is gone and carries on as a miss', async () => {
    const h = harness();
    await h.ask('tell me about the eiffel tower');
    h.stored.clear();
    const again = await h.ask('tell me about the eiffel tower please');
    assert.equal(again.ctx.cache, 'miss');
    assert.equal(again.body.answer, 'about: tell me about the eiffel tower please');
  });

  it('only works on the configured models', async () => {
    const h = harness({ models: ['gpt-4o'] });
    await h.ask('how do I reset my router password');
    assert.equal(h.cache.size(), 0);
  });

  it('refuses to be built for a disabled cache', () => {
    const embedder = new WordHashEmbedder();
    const cache = new SemanticCache({
      embedder,
      verifier: verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
    });
    assert.throws(() =>
      semanticCacheStage({
        cache,
        config: semanticCacheConfigSchema.parse({}),
        resolve: async () => undefined,
      }),
    );
  });
});
