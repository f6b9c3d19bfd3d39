/**
 * Semantic index lookup benchmark (embedding excluded): the product's PartitionIndex (HNSW via
 * usearch, exact f32 re-rank) at 10k, 100k and 1M entries of 512-d vectors. Reports build
 * time, lookup p50/p99, recall@1 against exact search, memory per entry, and an exact scan's
 * latency at the same size for contrast.
 *
 *   tsx bench/semantic-index.ts [--sizes 10000,100000,1000000] [--kind clustered|random|both]
 *                               [--queries 500] [--quantization i8|f16|f32] [--ef 64]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { exactSearch, type Matches, MetricKind } from 'usearch';
import { PartitionIndex, type Quantization } from '../src/cache/semantic/partition-index.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    kind: { type: 'string', default: 'both' },
    queries: { type: 'string', default: '500' },
    quantization: { type: 'string', default: 'i8' },
    ef: { type: 'string', default: '64' },
    'ef-add': { type: 'string', default: '128' },
    connectivity: { type: 'string', default: '32' },
    k: { type: 'string', default: '4' },
    /** Internal: run one measurement in this (fresh) process and print it as JSON. */
    child: { type: 'string' },
  },
});

const DIMS = 512;
const sizes = args.sizes.split(',').map(Number);
const kinds = args.kind === 'both' ? ['clustered', 'random'] : [args.kind];
const queryCount = Number(args.queries);
const k = Number(args.k);

/** A small fast PRNG (xorshift) so runs are repeatable; Math.random would dominate generation time. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296 - 0.5;
  };
}

function normaliseRows(data: Float32Array, n: number) {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < DIMS; j++) s += data[i * DIMS + j] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < DIMS; j++) data[i * DIMS + j] *= inv;
  }
}

/**
 * 'random': uniform directions (the hardest case for a graph index). 'clustered': points
 * around 1 centre per 100 entries, closer to how embeddings of real questions bunch by topic.
 */
function generate(kind: string, n: number, seed: number): Float32Array {
  const next = rng(seed);
  const data = new Float32Array(n * DIMS);
  if (kind === 'random') {
    for (let i = 0; i < data.length; i++) data[i] = next();
  } else {
    const clusters = Math.max(10, Math.floor(n / 100));
    const centres = new Float32Array(clusters * DIMS);
    for (let i = 0; i < centres.length; i++) centres[i] = next();
    for (let i = 0; i < n; i++) {
      const c = Math.floor((next() + 0.5) * clusters) % clusters;
      for (let j = 0; j < DIMS; j++) data[i * DIMS + j] = centres[c * DIMS + j] + 0.6 * next();
    }
  }
  normaliseRows(data, n);
  return data;
}

/** Half near-copies of stored entries (a reworded question), half new points from the same distribution. */
function makeQueries(kind: string, data: Float32Array, n: number, count: number): Float32Array[] {
  const next = rng(12345);
  const fresh = generate(kind, Math.ceil(count / 2), 777);
  const queries: Float32Array[] = [];
  for (let q = 0; q < count; q++) {
    if (q % 2 === 0) {
      const i = Math.floor((next() + 0.5) * n) % n;
      const v = data.slice(i * DIMS, (i + 1) * DIMS);
      for (let j = 0; j < DIMS; j++) v[j] += 0.02 * next();
      normaliseRows(v, 1);
      queries.push(v);
    } else {
      queries.push(fresh.slice((q >> 1) * DIMS, ((q >> 1) + 1) * DIMS));
    }
  }
  return queries;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function rssMb(): number {
  return process.memoryUsage().rss / 1e6;
}

interface Result {
  kind: string;
  entries: number;
  buildSeconds: number;
  p50Ms: number;
  p99Ms: number;
  recallAt1: number;
  /** Recall@1 on the half of the queries that are near-copies of stored entries (could hit). */
  recallNear: number;
  /** Recall@1 on the half that are new points (their neighbour is far; they would miss anyway). */
  recallFresh: number;
  bytesPerEntry: number;
  estimatedBytesPerEntry: number;
  exactScanP50Ms: number;
}

async function runOne(kind: string, n: number): Promise<Result> {
  const log = (s: string) => process.stderr.write(`[${kind} ${n.toLocaleString('en')}] ${s}\n`);
  log('generating vectors…');
  const data = generate(kind, n, 42);
  const queries = makeQueries(kind, data, n, n >= 1_000_000 ? Math.min(queryCount, 300) : queryCount);
  globalThis.gc?.();
  const rssBefore = rssMb();
  const index = new PartitionIndex({
    dims: DIMS,
    exactScanMax: 1024,
    hnsw: {
      connectivity: Number(args.connectivity),
      expansionAdd: Number(args['ef-add']),
      expansionSearch: Number(args.ef),
      quantization: args.quantization as Quantization,
    },
    buildSlice: 4096,
  });
  const started = performance.now();
  for (let i = 0; i < n; i++) index.add(i, data.subarray(i * DIMS, (i + 1) * DIMS));
  const progress = setInterval(
    () => log(`building graph… ${((performance.now() - started) / 1000).toFixed(0)} s`),
    15_000,
  );
  await index.settled();
  clearInterval(progress);
  const buildSeconds = (performance.now() - started) / 1000;
  if (!index.usesGraph) throw new Error('index did not switch to the graph');
  const bytesPerEntry = ((rssMb() - rssBefore) * 1e6) / n;
  log(`built in ${buildSeconds.toFixed(1)} s; exact truth for ${queries.length} queries…`);

  // Ground truth with usearch's SIMD exact search over the same vectors (copied queries: see STACK.md).
  const truth: number[] = [];
  for (const q of queries) {
    const found = exactSearch(data, q.slice(), DIMS, 1, MetricKind.Cos, 0) as Matches;
    truth.push(Number(found.keys[0]));
  }
  for (let i = 0; i < 50; i++) index.search(queries[i % queries.length], k); // warm-up
  const latencies: number[] = [];
  let correct = 0;
  const hitsByHalf = [0, 0];
  for (let q = 0; q < queries.length; q++) {
    const t = performance.now();
    const found = index.search(queries[q], k);
    latencies.push(performance.now() - t);
    const top = found[0];
    if (
      top &&
      (top.id === truth[q] || Math.abs(top.similarity - similarity(data, truth[q], queries[q])) < 1e-6)
    ) {
      correct++;
      hitsByHalf[q % 2]++;
    }
  }
  latencies.sort((a, b) => a - b);
  const scanTimes: number[] = [];
  for (let q = 0; q < Math.min(20, queries.length); q++) {
    const t = performance.now();
    index.scan(queries[q], k);
    scanTimes.push(performance.now() - t);
  }
  scanTimes.sort((a, b) => a - b);
  const result: Result = {
    kind,
    entries: n,
    buildSeconds,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    recallAt1: correct / queries.length,
    recallNear: hitsByHalf[0] / Math.ceil(queries.length / 2),
    recallFresh: hitsByHalf[1] / Math.floor(queries.length / 2),
    bytesPerEntry,
    estimatedBytesPerEntry: index.memoryBytes() / n,
    exactScanP50Ms: quantile(scanTimes, 0.5),
  };
  index.close();
  log(
    `p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms, recall@1 ${result.recallAt1.toFixed(3)} ` +
      `(near ${result.recallNear.toFixed(3)}, fresh ${result.recallFresh.toFixed(3)}), ` +
      `${Math.round(result.bytesPerEntry)} B/entry (RSS)`,
  );
  return result;
}

function similarity(data: Float32Array, id: number, query: Float32Array): number {
  let s = 0;
  for (let j = 0; j < DIMS; j++) s += data[id * DIMS + j] * query[j];
  return s;
}

/** Each size runs in a fresh process, so its RSS growth is the index's own memory. */
async function runInChild(kind: string, n: number): Promise<Result> {
  const passthrough = ['queries', 'quantization', 'ef', 'ef-add', 'connectivity', 'k'].flatMap((name) => [
    `--${name}`,
    String(args[name as keyof typeof args]),
  ]);
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--child', `${kind}:${n}`, ...passthrough],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`benchmark child for ${kind} ${n} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

async function main() {
  if (args.child) {
    const [kind, n] = args.child.split(':');
    process.stdout.write(`${JSON.stringify(await runOne(kind, Number(n)))}\n`);
    return;
  }
  const fresh: Result[] = [];
  for (const n of sizes) for (const kind of kinds) fresh.push(await runInChild(kind, n));
  const date = new Date().toISOString().slice(0, 10);
  const jsonFile = `bench/results/semantic-index-${date}.json`;
  // Runs of the same day and parameters accumulate (a 1M run can be done on its own).
  const params = {
    quantization: args.quantization,
    ef: args.ef,
    efAdd: args['ef-add'],
    connectivity: args.connectivity,
    k,
  };
  const results = mergeWithEarlier(jsonFile, params, fresh);
  const lines = [
    `# Semantic index lookup (embedding excluded), ${DIMS}-d, HNSW M=${args.connectivity} ` +
      `ef_add=${args['ef-add']} ef=${args.ef} ${args.quantization} + exact f32 re-rank, k=${k}`,
    '',
    'Queries: half are near-copies of stored entries (cosine ≈ 0.99, the lookups that can hit), half are new',
    'points from the same distribution (their nearest entry is far: they would miss anyway).',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), shared with other work while measured.`,
    '',
    '| vectors | entries | build | lookup p50 | lookup p99 | recall@1 (all) | recall@1 near-copies | recall@1 new points | memory/entry (RSS) | memory/entry (estimate) | exact scan p50 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.kind} | ${r.entries.toLocaleString('en')} | ${r.buildSeconds.toFixed(1)} s | ${r.p50Ms.toFixed(3)} ms | ` +
        `${r.p99Ms.toFixed(3)} ms | ${r.recallAt1.toFixed(3)} | ${r.recallNear.toFixed(3)} | ${r.recallFresh.toFixed(3)} | ` +
        `${(r.bytesPerEntry / 1024).toFixed(2)} KiB | ` +
        `${(r.estimatedBytesPerEntry / 1024).toFixed(2)} KiB | ${r.exactScanP50Ms.toFixed(1)} ms |`,
    ),
  ];
  const markdown = lines.join('\n');
  process.stdout.write(`\n${markdown}\n`);
  await mkdir('bench/results', { recursive: true });
  await writeFile(`bench/results/semantic-index-${date}.md`, `${markdown}\n`);
  await writeFile(jsonFile, `${JSON.stringify({ date, params, results }, null, 2)}\n`);
  process.stderr.write(`saved bench/results/semantic-index-${date}.{md,json}\n`);
}

function mergeWithEarlier(file: string, params: object, fresh: Result[]): Result[] {
  let earlier: Result[] = [];
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { params?: object; results?: Result[] };
    if (JSON.stringify(saved.params) === JSON.stringify(params)) earlier = saved.results ?? [];
  }
  const key = (r: Result) => `${r.kind}:${r.entries}`;
  const merged = new Map(earlier.map((r) => [key(r), r]));
  for (const r of fresh) merged.set(key(r), r);
  return [...merged.values()].sort((a, b) => a.entries - b.entries || a.kind.localeCompare(b.kind));
}

await main();
