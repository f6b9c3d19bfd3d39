import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionIndex } from '../src/cache/semantic/partition-index.js';
import { unitVector } from './semantic-helpers.js';

const DIMS = 32;
const HNSW = { connectivity: 16, expansionAdd: 64, expansionSearch: 64, quantization: 'i8' as const };

/** A query close to entry `id` (cosine ≈ 0.99): what a reworded question looks like. */
function near(id: number): Float32Array {
  const v = unitVector(DIMS, id).slice();
  const noise = unitVector(DIMS, 10_000 + id);
  for (let i = 0; i < DIMS; i++) v[i] += 0.1 * noise[i];
  return v;
}

function filled(n: number, exactScanMax: number): PartitionIndex {
  const index = new PartitionIndex({ dims: DIMS, exactScanMax, hnsw: HNSW, buildSlice: 64 });
  for (let id = 0; id < n; id++) index.add(id, unitVector(DIMS, id));
  return index;
}

describe('PartitionIndex', () => {
  it('scans exactly while small', () => {
    const index = filled(50, 100);
    assert.equal(index.usesGraph, false);
    const found = index.search(near(7), 3);
    assert.equal(found[0].id, 7);
    assert.ok(found[0].similarity >= found[1].similarity && found[1].similarity >= found[2].similarity);
  });

  it('uses the HNSW graph, not a scan, above the exact-scan threshold', async () => {
    const index = filled(2_000, 100);
    await index.settled();
    assert.equal(index.usesGraph, true);
    // From here on a scan would be a bug: make it fail loudly.
    const scan = index.scan.bind(index);
    index.scan = () => {
      throw new Error('linear scan used');
    };
    let agree = 0;
    for (let id = 0; id < 2_000; id += 40) {
      const found = index.search(near(id), 4);
      if (found[0].id === scan(near(id), 1)[0].id) agree++;
    }
    // HNSW is approximate and its build is not deterministic (threads): one miss in 50 was seen
    // in CI. The point here is that the graph answers (a scan would throw) with high recall.
    assert.ok(agree >= 48, `near-copy queries found through the graph: ${agree} of 50`);
  });

  it('never returns removed entries and compacts the graph after many removals', async () => {
    const index = filled(1_000, 100);
    await index.settled();
    for (let id = 0; id < 1_000; id += 2) index.remove(id);
    await index.settled(); // tombstones passed a quarter of the live entries: rebuilt
    assert.equal(index.size, 500);
    let asked = 0;
    let exact = 0;
    for (let id = 0; id < 1_000; id += 25) {
      const found = index.search(near(id), 4);
      assert.ok(found.every((n) => n.id % 2 === 1));
      if (id % 2 === 1) {
        asked++;
        if (found[0].id === id) exact++;
      }
    }
    // The graph is approximate (usearch draws its levels at random, unseeded): a near copy's own
    // entry is almost always first, not always (CI once saw 19 of 20). Removed ones never are.
    assert.ok(exact >= asked - 2, `near copies found first after the rebuild: ${exact} of ${asked}`);
    // Entries added after the rebuild are found too.
    index.add(5_000, unitVector(DIMS, 5_000));
    assert.equal(index.search(near(5_000), 1)[0].id, 5_000);
  });

  it('rejects duplicate ids and wrong dimensions', () => {
    const index = filled(3, 10);
    assert.throws(() => index.add(1, unitVector(DIMS, 99)));
    assert.throws(() => index.add(9, new Float32Array(DIMS + 1)));
  });
});
