import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { aggregateAnthropicStream } from '../src/dialect/anthropic-stream.js';
import { type CacheConfig, cacheConfigSchema } from '../src/cache/config.js';
import { ExactCache } from '../src/cache/exact-cache.js';
import { exactCacheStage } from '../src/cache/exact-stage.js';
import { scopeOf } from '../src/cache/key.js';
import { aggregateOpenAIStream } from '../src/dialect/openai-stream.js';
import type { Reply, RequestContext, Stage } from '../src/pipeline/types.js';
import { type Backend, openBackend } from '../src/store/index.js';
import type { KvStore } from '../src/store/types.js';
import { type SseEvent, SseParser } from '../src/dialect/sse.js';
import { observeEvents } from '../src/pipeline/reply.js';
import {
  ANTHROPIC_BODY,
  anthropicSse,
  type CtxOptions,
  jsonReply,
  makeCtx,
  OPENAI_BODY,
  OPENAI_USAGE,
  openAITextSse,
  readReply,
  streamReply,
} from './cache-fixtures.js';
import { redisBackendHarness } from './store-redis-server.js';

/**
 * The exact-cache stage with a fake `next` (hand-built replies with real SSE bytes), run on
 * every storage backend: memory, the embedded default (memory front + SQLite) and Redis.
 */

type Json = Record<string, unknown>;

const OPENAI_COMPLETION = {
  id: 'chatcmpl-AJSON',
  object: 'chat.completion',
  created: 1741569952,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Paris is the capital of France.',
        refusal: null,
        annotations: [],
      },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: JSON.parse(OPENAI_USAGE),
  service_tier: 'default',
  system_fingerprint: 'fp_06737a9306',
};

function parseSse(text: string): SseEvent[] {
  const parser = new SseParser();
  return [...parser.feed(new TextEncoder().encode(text)), ...parser.end()];
}

function openAIFromSse(text: string): Json {
  const result = aggregateOpenAIStream(parseSse(text));
  if (!result.ok) assert.fail(result.reason);
  return result.response;
}

function anthropicFromSse(text: string): Json {
  const result = aggregateAnthropicStream(parseSse(text));
  if (!result.ok) assert.fail(result.reason);
  return result.response;
}

/** A fake upstream: counts calls and answers with whatever the test says. */
function fakeUpstream(answer: (ctx: RequestContext, call: number) => Reply | Promise<Reply>) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    // As the upstream stage does: a stream it produces is observed (parsed once) for the
    // request's subscribers (cache capture among them).
    next: (ctx: RequestContext) => async () => {
      const reply = await answer(ctx, ++calls);
      return reply.kind === 'stream' ? observeEvents(reply, ctx.replyEvents) : reply;
    },
  };
}

interface Harness {
  open(): Promise<Backend>;
  durable: boolean;
  cleanup(): Promise<void>;
}

let namespaceSeq = 0;

function stageSuite(name: string, makeHarness: () => Promise<Harness | { skip: string }>) {
  describe(`exact cache stage on ${name}`, async () => {
    const made = await makeHarness();
    if ('skip' in made) {
      it('is skipped', { skip: made.skip }, () => {});
      return;
    }
    const harness = made;
    let backend: Backend;
    before(async () => {
      backend = await harness.open();
    });
    const caches: ExactCache[] = [];
    afterEach(async () => {
      for (const cache of caches.splice(0)) await cache.close();
    });
    after(async () => {
      await backend.close();
      await harness.cleanup();
    });

    function setup(overrides: Partial<CacheConfig> = {}, namespace = `exact-${++namespaceSeq}`) {
      const config = { ...cacheConfigSchema.parse({}), ...overrides };
      const store = backend.kv(namespace, { maxEntries: config.maxEntries, maxBytes: config.maxBytes });
      const cache = new ExactCache({ store, config, counters: backend.counters, name: namespace });
      caches.push(cache);
      const stage = exactCacheStage(cache);
      return { cache, stage, namespace };
    }

    async function run(stage: Stage, options: CtxOptions, upstream: ReturnType<typeof fakeUpstream>) {
      const ctx = makeCtx(options);
      const reply = await stage(ctx, upstream.next(ctx));
      const text = await readReply(reply);
      return { ctx, reply, text };
    }

    it('a streamed miss, then a streaming hit and a JSON hit, give the same answer (OpenAI)', async () => {
      const { cache, stage } = setup();
      const upstream = fakeUpstream(() => streamReply(openAITextSse()));
      const streaming = { body: { ...OPENAI_BODY, stream: true, stream_options: { include_usage: true } } };

      const miss = await run(stage, streaming, upstream);
      assert.equal(miss.ctx.responseHeaders['x-sluice-cache'], 'miss');
      assert.equal(miss.text, openAITextSse(), 'the miss passes the upstream bytes through untouched');
      await cache.flush();

      const streamHit = await run(stage, streaming, upstream);
      assert.equal(streamHit.ctx.responseHeaders['x-sluice-cache'], 'exact');
      assert.equal(streamHit.ctx.cache, 'exact');
      assert.equal(streamHit.reply.kind, 'stream');
      const jsonHit = await run(stage, { body: OPENAI_BODY }, upstream);
      assert.equal(jsonHit.reply.kind, 'json');
      assert.equal(upstream.calls, 1);

      const original = openAIFromSse(miss.text);
      assert.deepEqual(openAIFromSse(streamHit.text), original);
      assert.deepEqual(JSON.parse(jsonHit.text), original);
      assert.equal(
        (JSON.parse(jsonHit.text).choices[0].message as Json).content,
        'The capital of France is Paris.',
      );
      assert.deepEqual(jsonHit.ctx.usage, {
        inputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: 0,
      });
      assert.deepEqual(jsonHit.ctx.savedUsage, {
        inputTokens: 15,
        cacheReadTokens: 4,
        cacheWriteTokens: 0,
        outputTokens: 10,
      });
    });

    it('a streamed miss, then a streaming hit and a JSON hit, give the same answer (Anthropic)', async () => {
      const { cache, stage } = setup();
      const upstream = fakeUpstream(() => streamReply(anthropicSse()));
      const options = { dialect: 'anthropic' as const, body: { ...ANTHROPIC_BODY, stream: true } };
      const miss = await run(stage, options, upstream);
      await cache.flush();
      const streamHit = await run(stage, options, upstream);
      const jsonHit = await run(stage, { dialect: 'anthropic', body: ANTHROPIC_BODY }, upstream);
      assert.equal(upstream.calls, 1);
      assert.equal(streamHit.ctx.responseHeaders['x-sluice-cache'], 'exact');
      const original = anthropicFromSse(miss.text);
      assert.deepEqual(anthropicFromSse(streamHit.text), original);
      assert.deepEqual(JSON.parse(jsonHit.text), original);
      assert.match(streamHit.text, /^event: message_start\n/);
    });

    it('a JSON miss answers a later streaming request, and JSON hits return the stored bytes', async () => {
      const { cache, stage } = setup();
      const upstream = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
      const miss = await run(stage, { body: OPENAI_BODY }, upstream);
      await cache.flush();
      const jsonHit = await run(stage, { body: OPENAI_BODY }, upstream);
      assert.equal(jsonHit.text, miss.text);
      const streamHit = await run(
        stage,
        { body: { ...OPENAI_BODY, stream: true, stream_options: { include_usage: true } } },
        upstream,
      );
      assert.equal(upstream.calls, 1);
      const rebuilt = openAIFromSse(streamHit.text);
      assert.deepEqual((rebuilt.choices as Json[])[0].message, {
        role: 'assistant',
        content: 'Paris is the capital of France.',
        refusal: null,
      });
      assert.deepEqual(rebuilt.usage, OPENAI_COMPLETION.usage);
      assert.ok(streamHit.text.endsWith('data: [DONE]\n\n'));
    });

    it('never serves an entry across scopes', async () => {
      const { cache, stage } = setup();
      const upstream = fakeUpstream((ctx) =>
        jsonReply({ ...OPENAI_COMPLETION, id: `for-${ctx.caller.team}` }),
      );
      const blue = { user: 'ann', team: 'blue' };
      const red = { user: 'ann', team: 'red' };
      await run(stage, { caller: blue }, upstream);
      await cache.flush();
      const redMiss = await run(stage, { caller: red }, upstream);
      assert.equal(redMiss.ctx.cache, 'miss');
      assert.equal(JSON.parse(redMiss.text).id, 'for-red');
      await cache.flush();
      const blueHit = await run(stage, { caller: blue }, upstream);
      assert.equal(JSON.parse(blueHit.text).id, 'for-blue');
      const redHit = await run(stage, { caller: red }, upstream);
      assert.equal(JSON.parse(redHit.text).id, 'for-red');
      assert.equal(upstream.calls, 2);
      assert.notEqual(blueHit.ctx.cacheKey, redHit.ctx.cacheKey);
    });

    it('does not store errors, cut streams, abandoned streams or other layers answers', async () => {
      const { cache, stage } = setup();
      const streaming = { body: { ...OPENAI_BODY, stream: true } };

      const failing = fakeUpstream(() => jsonReply({ error: { message: 'overloaded' } }, 529));
      await run(stage, {}, failing);

      const cut = fakeUpstream(() => streamReply(openAITextSse(), { failAfter: 20 }));
      await assert.rejects(run(stage, streaming, cut), /connection reset/);

      const abandoned = fakeUpstream(() => streamReply(openAITextSse()));
      const ctx = makeCtx(streaming);
      const reply = await stage(ctx, abandoned.next(ctx));
      assert.equal(reply.kind, 'stream');
      for await (const _ of (reply as { chunks: AsyncIterable<Uint8Array> }).chunks) break; // client hangs up

      const semantic = fakeUpstream((c) => {
        c.cache = 'semantic';
        return jsonReply(OPENAI_COMPLETION);
      });
      await run(stage, {}, semantic);

      await cache.flush();
      const stats = cache.stats();
      assert.equal(stats.writes, 0);
      assert.equal(stats.writesSkipped, 2, 'the cut and the abandoned stream');
      const probe = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
      const after = await run(stage, {}, probe);
      assert.equal(after.ctx.cache, 'miss');
      assert.equal(probe.calls, 1);
    });

    it('bypasses non-deterministic requests and no-store; no-cache refreshes the entry', async () => {
      const { cache, stage } = setup();
      let answer = 'first';
      const upstream = fakeUpstream(() => jsonReply({ ...OPENAI_COMPLETION, id: answer }));

      const hot = await run(stage, { body: { ...OPENAI_BODY, temperature: 0.9 } }, upstream);
      assert.equal(hot.ctx.responseHeaders['x-sluice-cache'], 'bypass');
      assert.equal(hot.ctx.cacheKey, undefined);

      const noStore = await run(stage, { headers: { 'cache-control': 'no-store' } }, upstream);
      assert.equal(noStore.ctx.cache, 'bypass');
      await cache.flush();
      assert.equal((await run(stage, {}, upstream)).ctx.cache, 'miss', 'no-store wrote nothing');
      await cache.flush();
      assert.equal(JSON.parse((await run(stage, {}, upstream)).text).id, 'first');

      answer = 'second';
      const refresh = await run(stage, { headers: { 'cache-control': 'no-cache' } }, upstream);
      assert.equal(refresh.ctx.cache, 'miss');
      assert.equal(JSON.parse(refresh.text).id, 'second');
      await cache.flush();
      assert.equal(JSON.parse((await run(stage, {}, upstream)).text).id, 'second', 'the entry was refreshed');
      assert.equal(upstream.calls, 4);
    });

    it('x-sluice-cache-ttl: 0 stores nothing, a malformed value is refused', async () => {
      const { cache, stage } = setup();
      const upstream = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
      await run(stage, { headers: { 'x-sluice-cache-ttl': '0' } }, upstream);
      await cache.flush();
      assert.equal((await run(stage, {}, upstream)).ctx.cache, 'miss');
      await assert.rejects(
        run(stage, { headers: { 'x-sluice-cache-ttl': 'soon' } }, upstream),
        /whole number/,
      );
    });

    it('entries expire after their TTL, and hits slide it', async () => {
      const { cache, stage } = setup({ ttlSeconds: 0.4 });
      const upstream = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
      await run(stage, {}, upstream);
      await cache.flush();
      await sleep(250);
      assert.equal((await run(stage, {}, upstream)).ctx.cache, 'exact'); // renews to ~0.65 s
      await cache.flush(); // the renewal runs in the background
      await sleep(250);
      assert.equal((await run(stage, {}, upstream)).ctx.cache, 'exact', 'alive past its first TTL');
      await sleep(500);
      assert.equal((await run(stage, {}, upstream)).ctx.cache, 'miss', 'expired without hits');
      assert.equal(upstream.calls, 2);
    });

    it('evicts the least recently used entry past maxEntries', async () => {
      const { cache, stage } = setup({ maxEntries: 2 });
      const upstream = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
      const ask = (q: string) => ({ body: { ...OPENAI_BODY, messages: [{ role: 'user', content: q }] } });
      for (const q of ['a', 'b']) {
        await run(stage, ask(q), upstream);
        await cache.flush();
      }
      assert.equal((await run(stage, ask('a'), upstream)).ctx.cache, 'exact'); // a is now recent
      await run(stage, ask('c'), upstream);
      await cache.flush();
      assert.equal((await run(stage, ask('b'), upstream)).ctx.cache, 'miss', 'b was evicted');
      await cache.flush();
      assert.equal((await run(stage, ask('c'), upstream)).ctx.cache, 'exact');
    });

    it('counts hits per entry and in stats, and purges by scope and model', async () => {
      const { cache, stage } = setup();
      const upstream = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
      const other = { body: { ...OPENAI_BODY, model: 'gpt-4.1' } };
      const red = { caller: { user: 'bob', team: 'red' } };
      for (const options of [{}, other, red]) await run(stage, options, upstream);
      await cache.flush();
      const first = await run(stage, {}, upstream);
      await run(stage, {}, upstream);
      await cache.flush();
      const key = first.ctx.cacheKey!;
      const info = await cache.inspect(key);
      assert.equal(info?.hits, 2);
      assert.equal(info?.entry.model, 'gpt-4o-mini');
      assert.ok(info && info.entry.createdAt <= Date.now());
      const stats = cache.stats();
      assert.equal(stats.hits, 2);
      assert.equal(stats.misses, 3);
      assert.equal(stats.requests, 5);
      assert.equal(stats.hitRate, 2 / 5);
      assert.deepEqual(stats.tokensSaved, { input: 38, output: 20 });

      assert.equal(await cache.purge({ model: 'gpt-4.1' }), 1);
      assert.equal((await run(stage, other, upstream)).ctx.cache, 'miss');
      assert.equal(await cache.purge({ scope: scopeOf('team', { user: 'bob', team: 'red' }) }), 1);
      assert.equal((await run(stage, red, upstream)).ctx.cache, 'miss');
      assert.equal((await run(stage, {}, upstream)).ctx.cache, 'exact', 'other entries stay');
    });

    it('caches embeddings', async () => {
      const { cache, stage } = setup();
      const answer = {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
        model: 'e',
        usage: { prompt_tokens: 3, total_tokens: 3 },
      };
      const upstream = fakeUpstream(() => jsonReply(answer));
      const options = {
        route: 'embeddings' as const,
        body: { model: 'text-embedding-3-small', input: 'hello' },
      };
      await run(stage, options, upstream);
      await cache.flush();
      const hit = await run(stage, options, upstream);
      assert.equal(hit.ctx.cache, 'exact');
      assert.deepEqual(JSON.parse(hit.text), answer);
    });

    if (harness.durable) {
      it('survives a restart', async () => {
        const namespace = `exact-restart-${++namespaceSeq}`;
        const first = setup({}, namespace);
        const upstream = fakeUpstream(() => jsonReply(OPENAI_COMPLETION));
        await run(first.stage, {}, upstream);
        await first.cache.close();
        await backend.close();
        backend = await harness.open();
        const second = setup({}, namespace);
        const hit = await run(second.stage, {}, upstream);
        assert.equal(hit.ctx.cache, 'exact');
        assert.equal(upstream.calls, 1);
      });
    }
  });
}

stageSuite('memory', async () => ({
  open: () => openBackend({ dataDir: '', memory: true }),
  durable: false,
  cleanup: async () => {},
}));

stageSuite('memory front + SQLite', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-cache-'));
  return {
    open: () => openBackend({ dataDir }),
    durable: true,
    cleanup: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
});

stageSuite('Redis', redisBackendHarness);

describe('exact cache when the store fails', () => {
  it('serves from upstream and only logs', async () => {
    const broken: KvStore = {
      get: () => Promise.reject(new Error('disk on fire')),
      getEntry: () => Promise.reject(new Error('disk on fire')),
      set: () => Promise.reject(new Error('disk on fire')),
      touch: () => Promise.reject(new Error('disk on fire')),
      delete: () => Promise.reject(new Error('disk on fire')),
      deletePrefix: () => Promise.reject(new Error('disk on fire')),
      keys: () => ({
        [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('disk on fire')) }),
      }),
      close: async () => {},
    };
    const warnings: string[] = [];
    const cache = new ExactCache({
      store: broken,
      config: cacheConfigSchema.parse({}),
      log: { warn: (_details, message) => warnings.push(message) },
    });
    const stage = exactCacheStage(cache);
    const ctx = makeCtx();
    const reply = await stage(ctx, async () => jsonReply(OPENAI_COMPLETION));
    assert.equal(JSON.parse(await readReply(reply)).id, 'chatcmpl-AJSON');
    await cache.close();
    assert.deepEqual(warnings, ['exact cache read failed; treating as a miss', 'exact cache write failed']);
    assert.equal(cache.stats().writeErrors, 1);
  });
});
