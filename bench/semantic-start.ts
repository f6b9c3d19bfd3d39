/**
 * Semantic cache start time: loading the saved HNSW graph vs rebuilding it, at 100k and 1M
 * entries of random 512-d vectors in one partition (no embedding: vectors go in directly, as
 * they arrive from the shared log). For each size it builds the cache, saves it, then opens it
 * twice from the saved directory:
 *
 *   - load: entries, vectors and the saved graph; the partition answers from its graph at once.
 *   - rebuild: the same without the graph files (as before graphs were saved); the partition
 *     answers nothing until its graph is built (`settled`), which is the time reported.
 *
 * It also checks that the loaded graph answers the same neighbours as the one that was saved.
 *
 *   tsx bench/semantic-start.ts [--sizes 100000,1000000] [--ef-add 128] [--rebuild-max 100000]
 *
 * `--rebuild-max`: sizes above it skip the timed rebuild-on-open (the build before the save is
 * the same work and is reported instead). A lower `--ef-add` builds faster; it changes the
 * graph's quality, not its size on disk or the cost of loading it.
 */
import { mkdtemp, readdir, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SemanticCache } from '../src/cache/semantic/cache.js';
import { verifierFor } from '../src/cache/semantic/verifier.js';
import { USE_LITE_VERIFIER } from '../src/cache/semantic/verifier-model.js';
import { type Embedder, normalise } from '../src/embed/types.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    'ef-add': { type: 'string', default: '128' },
    'rebuild-max': { type: 'string', default: '100000' },
    queries: { type: 'string', default: '200' },
  },
});

const DIMS = 512;
const PARTITION = 'bench';

/** Vectors arrive ready-made; a lookup here passes its vector through `examine`'s embedder. */
class NoEmbedder implements Embedder {
  readonly id = 'bench-random@1';
  readonly dims = DIMS;
  next: Float32Array | undefined;
  async embed(texts: string[]): Promise<Float32Array[]> {
    if (texts.length !== 1 || !this.next) throw new Error('the benchmark never embeds entries');
    return [this.next];
  }
  async close(): Promise<void> {}
}

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296 - 0.5;
  };
}

function randomVector(next: () => number): Float32Array {
  const v = new Float32Array(DIMS);
  for (let i = 0; i < DIMS; i++) v[i] = next();
  return normalise(v);
}

const efAdd = Number(args['ef-add']);
function openCache(embedder: NoEmbedder, dir: string, size: number): Promise<SemanticCache> {
  return SemanticCache.open({
    embedder,
    verifier: verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.99 }),
    dir,
    maxEntries: size,
    candidates: 4,
    hnsw: { connectivity: 32, expansionAdd: efAdd, expansionSearch: 64, quantization: 'i8' },
  });
}

async function neighbours(cache: SemanticCache, embedder: NoEmbedder, queries: Float32Array[]) {
  const out: string[] = [];
  for (const query of queries) {
    embedder.next = query;
    const seen = await cache.examine(PARTITION, 'q');
    out.push(seen.nearest?.entryKey ?? '-');
  }
  return out;
}

const seconds = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
const rows: string[] = [];

for (const size of args.sizes.split(',').map(Number)) {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-semantic-start-'));
  const embedder = new NoEmbedder();
  try {
    const next = rng(size);
    const built = await openCache(embedder, dir, size);
    let t = performance.now();
    for (let i = 0; i < size; i++) {
      built.apply({
        op: 'add',
        partition: PARTITION,
        text: `question ${i}`,
        entryKey: `k${i}`,
        expiresAt: Number.POSITIVE_INFINITY,
        vector: randomVector(next),
      });
    }
    await built.settled();
    const buildMs = performance.now() - t;
    const queries = Array.from({ length: Number(args.queries) }, () => randomVector(next));
    const before = await neighbours(built, embedder, queries);
    t = performance.now();
    await built.save();
    const saveMs = performance.now() - t;
    await built.close();
    const files = await readdir(dir);
    let bytes = 0;
    for (const name of files) bytes += (await stat(join(dir, name))).size;
    console.error(`${size}: built in ${seconds(buildMs)} s, saved in ${seconds(saveMs)} s`);

    t = performance.now();
    const loaded = await openCache(embedder, dir, size);
    const loadMs = performance.now() - t;
    if (!loaded.usesGraph(PARTITION) || loaded.restored?.graphsLoaded !== 1)
      throw new Error('the saved graph was not loaded');
    const after = await neighbours(loaded, embedder, queries);
    const same = after.filter((key, i) => key === before[i]).length;
    await loaded.close(); // saves again (graph included)
    console.error(`${size}: loaded in ${seconds(loadMs)} s, same nearest ${same}/${queries.length}`);

    let rebuild = 'not run (see build)';
    if (size <= Number(args['rebuild-max'])) {
      for (const name of await readdir(dir)) if (name.endsWith('.usearch')) await unlink(join(dir, name));
      t = performance.now();
      const rebuilt = await openCache(embedder, dir, size);
      const openMs = performance.now() - t;
      await rebuilt.settled();
      const readyMs = performance.now() - t;
      await rebuilt.close();
      rebuild = `${seconds(readyMs)} s (entries ${seconds(openMs)} s + graph)`;
      console.error(`${size}: rebuilt in ${rebuild}`);
    }
    const rss = process.memoryUsage().rss / 2 ** 30;
    rows.push(
      `| ${size.toLocaleString('en-US')} | ${efAdd} | ${seconds(buildMs)} s | ${seconds(saveMs)} s | ${(bytes / 2 ** 20).toFixed(0)} MiB | **${seconds(loadMs)} s** | ${rebuild} | ${same}/${queries.length} | ${rss.toFixed(1)} GiB |`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(
  '| entries | ef_add | build (fill + graph) | save | on disk | start: load saved graph | start: rebuild graph | same nearest after load | process RSS |',
);
console.log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
for (const row of rows) console.log(row);
