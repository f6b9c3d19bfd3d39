/**
 * Two gateway instances on one Redis share their semantic entries: each instance's index
 * follows the Redis stream of inserts and deletions, so an answer stored through A is a
 * semantic hit through B, and B restarted catches up on what A stored meanwhile.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { SemanticCache } from '../src/cache/semantic/cache.js';
import { SharedLog } from '../src/cache/semantic/shared-log.js';
import { verifierFor } from '../src/cache/semantic/verifier.js';
import { USE_LITE_VERIFIER } from '../src/cache/semantic/verifier-model.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { redisServerMissing, startRedisProcess } from './redis-process.js';
import { WordHashEmbedder } from './semantic-helpers.js';
import { startTestRedis, type TestRedis } from './store-redis-server.js';
import { waitFor } from './wait-for.js';

const redis: TestRedis = await startTestRedis();
const skip = 'skip' in redis ? redis.skip : undefined;

// Uses the real offline embedder (USE-lite in a worker thread per instance: ~1-2 s each to load).
describe('semantic entries shared by two instances on one Redis', { skip }, () => {
  const url = 'url' in redis ? redis.url : '';
  const keyPrefix = `sluice-test-${randomBytes(4).toString('hex')}:`;
  const dataDirs = [0, 1].map((n) => join(tmpdir(), `sluice-semshare-${process.pid}-${n}`));
  let a: TestGateway;
  let b: TestGateway;

  const startInstance = (dataDir: string) =>
    startTestGateway({
      dataDir,
      redisUrl: url,
      store: { keyPrefix },
      semantic: { enabled: true },
    });

  const ask = async (gw: TestGateway, content: string) => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create(
        { model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] },
        { headers: { 'x-sluice-user': 'robin' } },
      )
      .withResponse();
    return { answer: data.choices[0].message.content, cache: response.headers.get('x-sluice-cache') };
  };
  const semanticOf = (gw: TestGateway) => gw.sluice.gateway.semantic!;

  before(async () => {
    [a, b] = await Promise.all(dataDirs.map(startInstance));
  });
  after(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    const client = new Redis(url);
    const keys = await client.keys(`${keyPrefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
    if ('stop' in redis) await redis.stop();
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  });

  it('an answer stored through A is a semantic hit through B', async () => {
    const first = await ask(a, 'How do I reset my password?');
    assert.equal(first.cache, 'miss');
    // A records the question after the reply; B learns it from the stream.
    await waitFor('B to receive the entry', () => semanticOf(b).cache.size() === 1);
    const paraphrase = await ask(b, 'How can I reset my password?');
    assert.equal(paraphrase.cache, 'semantic');
    assert.equal(paraphrase.answer, first.answer);
    // Unrelated questions stay misses on B.
    assert.equal((await ask(b, 'What is the capital of France?')).cache, 'miss');
  });

  it('B restarted loads its saved entries and replays what A stored while it was down', async () => {
    await b.close();
    const savedEntries = 2; // the password question and B's own France question
    const whileDown = await ask(a, 'What is the boiling point of water at sea level?');
    assert.equal(whileDown.cache, 'miss');
    await waitFor(
      'A to publish',
      () => semanticOf(a).log!.stats().outbox === 0 && semanticOf(a).cache.size() === 3,
    );
    await sleep(100);

    b = await startInstance(dataDirs[1]);
    const restarted = semanticOf(b).cache;
    assert.equal(restarted.restored?.entries, savedEntries, 'the saved state was loaded');
    // The stream replay (from the cursor saved with the entries) brings A's new entry.
    assert.equal(restarted.size(), 3);
    const caughtUp = await ask(b, 'At sea level, what is the boiling point of water?');
    assert.equal(caughtUp.cache, 'semantic');
    assert.equal(caughtUp.answer, whileDown.answer);
    assert.equal(
      restarted.stats().embeddedEntries,
      0,
      'every vector came from the saved state or the stream: B embedded no entry again',
    );
    // The entry B loaded from its own saved state still answers.
    assert.equal((await ask(b, 'How can I reset my password?')).cache, 'semantic');
  });
});

/** A cache wired to a shared log, as `createSemanticCache` does, over the word-hash embedder. */
function sharedCache(url: string, keyPrefix: string) {
  const embedder = new WordHashEmbedder();
  let log: SharedLog | undefined;
  const cache = new SemanticCache({
    embedder,
    verifier: verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
    onChange: (change) => log?.publish(change),
  });
  log = new SharedLog(cache, embedder.id, { url, keyPrefix, maxLength: 1_000, blockMs: 200 });
  return { cache, log };
}

describe('the shared log while Redis is away', { skip: redisServerMissing() }, () => {
  it('serves from the local index, keeps changes in the outbox, and both sides catch up after', async () => {
    const server = await startRedisProcess();
    const keyPrefix = 'outage:';
    const a = sharedCache(server.url, keyPrefix);
    const b = sharedCache(server.url, keyPrefix);
    try {
      await Promise.all([a.log.start(), b.log.start()]);
      await server.stop();
      await waitFor('the logs to notice', () => !a.log.stats().connected && !b.log.stats().connected);
      await a.cache.insert('p', 'how do I rotate my api key', 'k-rotate', 600);
      await b.cache.insert('p', 'where is the billing page', 'k-billing', 600);
      // Fail open: lookups answer from the local entries while the stream is out of reach.
      const local = await a.cache.lookup('p', 'how do I rotate my api key');
      assert.equal(local.hit && local.entryKey, 'k-rotate');
      // The insert, then the vector the lookup computed for it: both wait for Redis.
      assert.equal(a.log.stats().outbox, 2);

      await server.start();
      await waitFor('both outboxes to drain and each side to see the other', () => {
        return a.cache.size() === 2 && b.cache.size() === 2 && a.log.stats().outbox === 0;
      });
      const remote = await b.cache.lookup('p', 'how do I rotate my api key');
      assert.equal(remote.hit && remote.entryKey, 'k-rotate');
      // A delete travels too.
      assert.equal(a.cache.delete('k-billing'), true);
      await waitFor('the delete to reach B', () => b.cache.size() === 1);
    } finally {
      await Promise.allSettled([a.log.close(), b.log.close()]);
      await server.dispose();
    }
  });
});
