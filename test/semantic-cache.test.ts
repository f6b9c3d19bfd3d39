import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SemanticCache, type SemanticCacheOptions } from '../src/cache/semantic/cache.js';
import { semanticCacheConfigSchema } from '../src/cache/semantic/config.js';
import { createSemanticCache } from '../src/cache/semantic/create.js';
import { verifierFor } from '../src/cache/semantic/verifier.js';
import { USE_LITE_VERIFIER } from '../src/cache/semantic/verifier-model.js';
import { WordHashEmbedder } from './semantic-helpers.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function makeCache(overrides: Partial<SemanticCacheOptions> = {}) {
  const embedder = (overrides.embedder as WordHashEmbedder | undefined) ?? new WordHashEmbedder();
  let now = 1_000_000;
  const cache = new SemanticCache({
    embedder,
    // This embedder is not calibrated: cosine threshold plus the word-level vetoes.
    verifier: verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
    now: () => now,
    ...overrides,
  });
  return { cache, embedder, advance: (ms: number) => (now += ms), now: () => now };
}

describe('SemanticCache', () => {
  it('answers a rewording inside the partition and never from another partition', async () => {
    const { cache } = makeCache();
    await cache.insert('p1', 'how do I reset my router password', 'key-1', 60);
    const same = await cache.lookup('p1', 'how do I reset my router password please');
    assert.equal(same.hit, true);
    assert.equal(same.hit && same.entryKey, 'key-1');
    const other = await cache.lookup('p2', 'how do I reset my router password');
    assert.deepEqual(other, { hit: false });
    // Even with many entries elsewhere, p2 stays empty.
    for (let i = 0; i < 20; i++) await cache.insert('p1', `question number ${i} about routers`, `k${i}`, 60);
    assert.equal((await cache.lookup('p2', 'question number 3 about routers')).hit, false);
  });

  it('rejects candidates the vetoes catch even at high cosine', async () => {
    const { cache } = makeCache();
    await cache.insert('p', 'what is 2 plus 3', 'sum-2-3', 60);
    const result = await cache.lookup('p', 'what is 2 plus 4');
    assert.equal(result.hit, false);
  });

  it('expires entries after their TTL and sweeps them', async () => {
    const { cache, advance } = makeCache();
    await cache.insert('p', 'capital city of france', 'k1', 10);
    await cache.insert('p', 'tallest mountain on earth', 'k2', 0); // no expiry
    assert.equal((await cache.lookup('p', 'capital city of france')).hit, true);
    advance(11_000);
    assert.equal((await cache.lookup('p', 'capital city of france')).hit, false);
    assert.equal(await cache.sweepExpired(), 0); // the lookup already dropped it
    assert.equal(cache.size(), 1);
    advance(10 ** 9);
    assert.equal((await cache.lookup('p', 'tallest mountain on earth')).hit, true);
  });

  it('sweeps expired entries that were never looked up', async () => {
    const { cache, advance } = makeCache();
    for (let i = 0; i < 5; i++) await cache.insert(`p${i}`, `text ${i}`, `k${i}`, 5);
    advance(6_000);
    assert.equal(await cache.sweepExpired(), 5);
    assert.equal(cache.size(), 0);
    assert.equal(cache.stats().partitions, 0);
  });

  it('embeds lazily: inserts cost nothing until their partition is searched, then one batch', async () => {
    const { cache, embedder } = makeCache();
    await cache.insert('lonely', 'a conversation nobody repeats', 'k0', 60);
    await cache.insert('busy', 'first question here', 'k1', 60);
    await cache.insert('busy', 'second question here', 'k2', 60);
    assert.equal(embedder.calls.length, 0);
    assert.equal((await cache.lookup('empty', 'anything')).hit, false);
    assert.equal(embedder.calls.length, 0, 'an empty partition needs no embedding');
    await cache.lookup('busy', 'second question here');
    assert.deepEqual(embedder.calls, [
      ['second question here', 'first question here', 'second question here'],
    ]);
  });

  it('replaces an entry re-inserted under the same key, deletes by key and purges partitions', async () => {
    const { cache } = makeCache();
    await cache.insert('p', 'old wording of the question', 'k', 60);
    await cache.insert('p', 'brand new phrasing entirely', 'k', 60);
    assert.equal(cache.size(), 1);
    assert.equal((await cache.lookup('p', 'old wording of the question')).hit, false);
    assert.equal(cache.delete('k'), true);
    assert.equal(cache.size(), 0);
    for (let i = 0; i < 3; i++) await cache.insert('q', `entry ${i}`, `q${i}`, 60);
    await cache.insert('r', 'entry 0', 'r0', 60);
    assert.equal(cache.purgePartition('q'), 3);
    assert.equal(cache.size(), 1);
    assert.equal((await cache.lookup('r', 'entry 0')).hit, true);
  });

  it('evicts the oldest entries beyond maxEntries; a hit renews an entry', async () => {
    const { cache } = makeCache({ maxEntries: 3 });
    await cache.insert('p', 'alpha question text', 'a', 60);
    await cache.insert('p', 'bravo question text', 'b', 60);
    await cache.insert('p', 'charlie question text', 'c', 60);
    assert.equal((await cache.lookup('p', 'alpha question text')).hit, true); // renews "a"
    await cache.insert('p', 'delta question text', 'd', 60); // evicts "b", the oldest unused
    assert.equal(cache.size(), 3);
    assert.equal(cache.delete('b'), false);
    assert.equal(cache.delete('a'), true);
  });

  it('switches a large partition to the HNSW graph and keeps answering from it', async () => {
    const { cache } = makeCache({ exactScanMax: 16 });
    for (let i = 0; i < 200; i++)
      await cache.insert('big', `item ${i} colour ${i % 7} size ${i * 3}`, `k${i}`, 60);
    await cache.flushPending();
    await cache.settled();
    assert.equal(cache.usesGraph('big'), true);
    const result = await cache.lookup('big', 'item 123 colour 4 size 369');
    assert.equal(result.hit && result.entryKey, 'k123');
  });

  it('saves to a directory and rebuilds from it, skipping expired entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-semantic-'));
    dirs.push(dir);
    const { cache, now } = makeCache({ dir, exactScanMax: 8 });
    for (let i = 0; i < 40; i++)
      await cache.insert('big', `saved question ${i} about topic ${i % 5}`, `b${i}`, 600);
    await cache.insert('small', 'short lived entry', 's-expiring', 1);
    await cache.insert('small', 'never embedded entry', 's-pending', 600);
    await cache.lookup('big', 'warm the big partition'); // embeds its entries; "small" stays pending
    await cache.flushPending();
    await cache.settled();
    await cache.close(); // saves

    const embedder = new WordHashEmbedder();
    let clock = now() + 5_000; // the 1-second entry has expired by now
    const reopened = await SemanticCache.open({
      embedder,
      verifier: verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
      dir,
      exactScanMax: 8,
      now: () => clock,
    });
    await reopened.settled();
    assert.equal(reopened.size(), 41);
    assert.equal(reopened.usesGraph('big'), true);
    const hit = await reopened.lookup('big', 'saved question 17 about topic 2');
    assert.equal(hit.hit && hit.entryKey, 'b17');
    assert.equal((await reopened.lookup('small', 'never embedded entry')).hit, true);
    assert.equal((await reopened.lookup('small', 'short lived entry')).hit, false);
    clock += 1;
    await reopened.close();

    // A different embedder cannot reuse the vectors: nothing is loaded.
    const other = new WordHashEmbedder('word-hash@2');
    const fresh = await SemanticCache.open({
      embedder: other,
      verifier: verifierFor(other.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
      dir,
    });
    assert.equal(fresh.size(), 0);
  });

  it('refuses a verifier calibrated for another embedder', () => {
    const embedder = new WordHashEmbedder();
    assert.throws(
      () =>
        new SemanticCache({
          embedder,
          verifier: verifierFor('other', USE_LITE_VERIFIER, { cosineThreshold: 0.9 }),
        }),
    );
  });
});

describe('createSemanticCache', () => {
  it('wires a provider embedder through the injected call, and saves under <dataDir>/semantic', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-semantic-create-'));
    dirs.push(dataDir);
    const words = new WordHashEmbedder();
    const calls: Array<{ texts: string[]; model: string }> = [];
    const config = semanticCacheConfigSchema.parse({
      enabled: true,
      embedder: 'tiny-embed',
      embedderDims: words.dims,
      cosineThreshold: 0.9,
    });
    const embeddingsCall = async (texts: string[], model: string) => {
      calls.push({ texts, model });
      return (await words.embed(texts)).map((v) => [...v].map((x) => x * 3)); // unnormalised on purpose
    };
    const handle = await createSemanticCache(config, { dataDir, embeddingsCall });
    assert.equal(handle.embedder.id, 'provider:tiny-embed');
    await handle.cache.insert('p', 'how long do cats sleep each day', 'k', 60);
    const hit = await handle.cache.lookup('p', 'how long do cats sleep each day');
    assert.equal(hit.hit && hit.entryKey, 'k');
    assert.ok(hit.hit && Math.abs(hit.similarity - 1) < 1e-6, 'provider vectors are normalised');
    assert.equal(calls[0].model, 'tiny-embed');
    // The same text again is served from the embedding LRU, not the provider.
    await handle.cache.lookup('p', 'how long do cats sleep each day');
    assert.equal(calls.length, 1);
    await handle.close();
    assert.ok(existsSync(join(dataDir, 'semantic', 'manifest.json')));
  });
});

describe('semanticCacheConfigSchema', () => {
  it('parses {} to a disabled cache with defaults', () => {
    const config = semanticCacheConfigSchema.parse({});
    assert.equal(config.enabled, false);
    assert.equal(config.embedder, 'use-lite');
    assert.equal(config.allowToolResults, false);
    assert.equal(config.index.exactScanMax, 1024);
    assert.equal(semanticCacheConfigSchema.parse(undefined).enabled, false);
  });

  it('rejects nonsense', () => {
    assert.throws(() => semanticCacheConfigSchema.parse({ threshold: 1.5 }));
    assert.throws(() => semanticCacheConfigSchema.parse({ index: { quantization: 'q4' } }));
  });
});
