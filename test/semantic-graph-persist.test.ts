/**
 * The HNSW graphs are saved with the entries and loaded at start instead of rebuilt: a
 * restored index answers at once, with the same neighbours as before the save.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SemanticCache } from '../src/cache/semantic/cache.js';
import { PartitionIndex, type PartitionIndexOptions } from '../src/cache/semantic/partition-index.js';
import { verifierFor } from '../src/cache/semantic/verifier.js';
import { USE_LITE_VERIFIER } from '../src/cache/semantic/verifier-model.js';
import { unitVector, WordHashEmbedder } from './semantic-helpers.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-graph-'));
  dirs.push(dir);
  return dir;
}

const DIMS = 32;
const OPTIONS: PartitionIndexOptions = {
  dims: DIMS,
  exactScanMax: 64,
  hnsw: { connectivity: 16, expansionAdd: 64, expansionSearch: 64, quantization: 'i8' },
};

describe('saved HNSW graphs', () => {
  it('a restored index answers from the loaded graph at once, with the same neighbours', async () => {
    const dir = await tempDir();
    const original = new PartitionIndex(OPTIONS);
    const count = 3_000;
    for (let id = 1; id <= count; id++) original.add(id, unitVector(DIMS, id));
    await original.settled();
    assert.equal(original.usesGraph, true);
    for (let id = 1; id <= 10; id++) original.remove(id * 7); // tombstones stay in the graph
    const saved = original.saveGraph(join(dir, 'graph.usearch'));
    assert.ok(saved);
    assert.equal(saved.size, count);
    assert.equal(saved.tombstones.length, 10);

    const ids = [...original.ids()];
    const vectors = new Float32Array(ids.length * DIMS);
    for (const [i, id] of ids.entries()) vectors.set(original.vector(id)!, i * DIMS);
    const restored = new PartitionIndex(OPTIONS);
    assert.equal(restored.restore(ids, vectors, saved), true);
    // No settle: the graph is there immediately (a rebuild would leave it unset for a while).
    assert.equal(restored.usesGraph, true);
    for (let q = 0; q < 50; q++) {
      const query = unitVector(DIMS, 100_000 + q);
      assert.deepEqual(restored.search(query, 5), original.search(query, 5));
    }
    for (const gone of [7, 14, 70]) assert.equal(restored.has(gone), false);
    const probe = restored.search(unitVector(DIMS, 14), 10);
    assert.ok(!probe.some((n) => n.id === 14), 'a tombstone is never returned');
  });

  it('a graph that does not match the entries is not trusted: the index rebuilds it', async () => {
    const dir = await tempDir();
    const original = new PartitionIndex(OPTIONS);
    for (let id = 1; id <= 500; id++) original.add(id, unitVector(DIMS, id));
    await original.settled();
    const saved = original.saveGraph(join(dir, 'graph.usearch'))!;
    // One entry fewer than the graph holds, and not listed as a tombstone.
    const ids = Array.from({ length: 499 }, (_, i) => i + 1);
    const vectors = new Float32Array(499 * DIMS);
    for (const [i, id] of ids.entries()) vectors.set(unitVector(DIMS, id), i * DIMS);
    const restored = new PartitionIndex(OPTIONS);
    assert.equal(restored.restore(ids, vectors, saved), false);
    await restored.settled();
    assert.equal(restored.usesGraph, true);
    assert.equal(restored.search(unitVector(DIMS, 42), 1)[0].id, 42);
  });

  it('the semantic cache saves its graphs and loads them on open, expired entries as tombstones', async () => {
    const dir = await tempDir();
    const embedder = new WordHashEmbedder();
    const verifier = verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.9 });
    let clock = 1_000_000;
    const cache = new SemanticCache({ embedder, verifier, dir, exactScanMax: 16, now: () => clock });
    for (let i = 0; i < 200; i++)
      await cache.insert('big', `stored question ${i} about subject ${i % 7}`, `k${i}`, 600);
    await cache.insert('big', 'a question that expires soon', 'k-short', 1);
    await cache.lookup('big', 'warm up the partition');
    await cache.flushPending();
    await cache.settled();
    assert.equal(cache.usesGraph('big'), true);
    const before = await cache.examine('big', 'stored question 33 about subject 5');
    await cache.close();
    assert.equal(readdirSync(dir).filter((name) => name.endsWith('.usearch')).length, 1);

    clock += 5_000; // k-short has expired
    const reopened = await SemanticCache.open({
      embedder,
      verifier,
      dir,
      exactScanMax: 16,
      now: () => clock,
    });
    assert.deepEqual(reopened.restored && { ...reopened.restored, ms: 0 }, {
      entries: 200,
      graphsLoaded: 1,
      graphsRebuilt: 0,
      ms: 0,
    });
    assert.equal(reopened.usesGraph('big'), true, 'loaded, not being rebuilt');
    const after = await reopened.examine('big', 'stored question 33 about subject 5');
    assert.deepEqual(after, before);
    const hit = await reopened.lookup('big', 'stored question 33 about subject 5');
    assert.equal(hit.hit && hit.entryKey, 'k33');
    assert.equal((await reopened.lookup('big', 'a question that expires soon')).hit, false);

    // New entries after the load go into the loaded graph; a second save/open round-trips.
    await reopened.insert('big', 'a brand new question after the restart', 'k-new', 600);
    await reopened.lookup('big', 'warm up again');
    await reopened.close();
    const third = await SemanticCache.open({ embedder, verifier, dir, exactScanMax: 16, now: () => clock });
    assert.equal(third.restored?.graphsLoaded, 1);
    const fresh = await third.lookup('big', 'a brand new question after the restart');
    assert.equal(fresh.hit && fresh.entryKey, 'k-new');
    await third.close();
    assert.equal(
      readdirSync(dir).filter((name) => name.endsWith('.usearch')).length,
      1,
      'old graphs deleted',
    );
  });
});
