/**
 * `sluice eval-semantic --pairs FILE [--json]`: the shipped semantic hit decision on a file of
 * text pairs. Every `a` goes into one fresh cache (one partition), every `b` is looked up;
 * a hit on a non-duplicate pair is a false hit, a hit on a duplicate pair's own `a` is a
 * duplicate hit (a hit on some other entry is counted apart, as a wrong-entry hit).
 * Embeddings are cached on disk under `<data dir>/eval-cache`, so reruns take seconds.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Embedder } from '../../embed/types.js';
import { UseLiteEmbedder } from '../../embed/use-lite.js';
import { type Candidate, SemanticCache } from './cache.js';
import { EvalVectorCache } from './eval-vectors.js';
import { readPairs, type TextPair } from './pairs.js';
import { type Verifier, verifierFor } from './verifier.js';
import { USE_LITE_VERIFIER } from './verifier-model.js';

/** What one lookup saw: enough to decide it at any threshold afterwards. */
export interface PairOutcome {
  duplicate: boolean;
  /** Highest verifier score among candidates that are the pair's own `a` (by text), or 0. */
  ownScore: number;
  /** Highest verifier score among other entries, or 0. */
  otherScore: number;
  /** Cosine of the nearest entry, and whether it is the pair's own `a`. */
  topSimilarity: number;
  topIsOwn: boolean;
}

export interface Rates {
  pairs: number;
  duplicates: number;
  nonDuplicates: number;
  falseHitRate: number;
  duplicateHitRate: number;
  /** Duplicate pairs answered with another entry than their own `a`. */
  wrongEntryHits: number;
}

/** The decision at a verifier threshold: the best-scoring candidate wins if it reaches it. */
export function ratesAt(outcomes: PairOutcome[], threshold: number): Rates {
  return tally(outcomes, (o) => {
    const best = Math.max(o.ownScore, o.otherScore);
    if (best < threshold || best === 0) return 'miss';
    return o.ownScore >= o.otherScore ? 'own' : 'other';
  });
}

/** The baseline: a plain cosine threshold on the nearest entry. */
export function cosineRatesAt(outcomes: PairOutcome[], threshold: number): Rates {
  return tally(outcomes, (o) => (o.topSimilarity < threshold ? 'miss' : o.topIsOwn ? 'own' : 'other'));
}

function tally(outcomes: PairOutcome[], decide: (o: PairOutcome) => 'miss' | 'own' | 'other'): Rates {
  let duplicates = 0;
  let duplicateHits = 0;
  let falseHits = 0;
  let wrongEntryHits = 0;
  for (const o of outcomes) {
    const decision = decide(o);
    if (o.duplicate) {
      duplicates++;
      if (decision === 'own') duplicateHits++;
      if (decision === 'other') wrongEntryHits++;
    } else if (decision !== 'miss') falseHits++;
  }
  const nonDuplicates = outcomes.length - duplicates;
  return {
    pairs: outcomes.length,
    duplicates,
    nonDuplicates,
    falseHitRate: nonDuplicates > 0 ? falseHits / nonDuplicates : 0,
    duplicateHitRate: duplicates > 0 ? duplicateHits / duplicates : 0,
    wrongEntryHits,
  };
}

/** Serves vectors from the on-disk evaluation cache (embedding unknown texts on the way). */
class DiskBackedEmbedder implements Embedder {
  constructor(
    private readonly vectors: EvalVectorCache,
    readonly id: string,
    readonly dims: number,
  ) {}
  embed(texts: string[]): Promise<Float32Array[]> {
    return this.vectors.embedAll(texts);
  }
  async close(): Promise<void> {}
}

export interface EvalContext {
  vectors: EvalVectorCache;
  embedder: Embedder;
  verifier: Verifier;
  /** Progress lines (stderr by default). */
  progress: (line: string) => void;
}

export async function openEvalContext(dataDir: string, progress = defaultProgress): Promise<EvalContext> {
  const embedder = new UseLiteEmbedder();
  const vectors = await EvalVectorCache.open(embedder, join(dataDir, 'eval-cache'));
  const verifier = verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.95 });
  return { vectors, embedder, verifier, progress };
}

/** Puts every `a` in a fresh cache, examines every `b`; returns one outcome per pair. */
export async function evaluatePairs(context: EvalContext, pairs: TextPair[], label: string): Promise<PairOutcome[]> {
  const { vectors, embedder, verifier, progress } = context;
  const texts = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  let lastShown = 0;
  await vectors.embedAll(texts, (done, total) => {
    const now = Date.now();
    if (done === total || now - lastShown > 2000) {
      lastShown = now;
      progress(`${label}: embedding ${done}/${total} new texts`);
    }
  });
  const cache = new SemanticCache({
    embedder: new DiskBackedEmbedder(vectors, embedder.id, embedder.dims),
    verifier,
    maxEntries: pairs.length + 1,
  });
  try {
    pairs.forEach((pair, i) => void cache.insert('eval', pair.a, `a:${i}`, 0));
    await cache.flushPending();
    await cache.settled();
    const outcomes: PairOutcome[] = [];
    for (const pair of pairs) {
      const { candidates, bestSimilarity } = await cache.examine('eval', pair.b);
      const isOwn = (c: Candidate) => pairs[Number(c.entryKey.slice(2))].a === pair.a;
      let ownScore = 0;
      let otherScore = 0;
      for (const c of candidates) {
        if (isOwn(c)) ownScore = Math.max(ownScore, c.score);
        else otherScore = Math.max(otherScore, c.score);
      }
      // The nearest neighbour, whatever the pre-filter, for the cosine baseline.
      const top = candidates[0];
      outcomes.push({
        duplicate: pair.duplicate,
        ownScore,
        otherScore,
        topSimilarity: bestSimilarity ?? 0,
        topIsOwn: top !== undefined && top.similarity === bestSimilarity && isOwn(top),
      });
    }
    return outcomes;
  } finally {
    await cache.close();
  }
}

function defaultProgress(line: string): void {
  process.stderr.write(`${line}\n`);
}

export const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The CLI entry: `eval-semantic --pairs FILE [--json]`; returns the process exit code. */
export async function evalSemanticCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pairs: { type: 'string' },
      json: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
    },
  });
  if (!values.pairs) {
    process.stderr.write('usage: sluice eval-semantic --pairs FILE [--json]\n');
    return 2;
  }
  const dataDir = values['data-dir'] ?? process.env.SLUICE_DATA_DIR ?? '.sluice';
  const context = await openEvalContext(dataDir);
  try {
    const pairs = await readPairs(values.pairs);
    const outcomes = await evaluatePairs(context, pairs, values.pairs);
    const threshold = context.verifier.model.threshold;
    const rates = ratesAt(outcomes, threshold);
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({
          false_hit_rate: rates.falseHitRate,
          duplicate_hit_rate: rates.duplicateHitRate,
          pairs: rates.pairs,
          duplicates: rates.duplicates,
          non_duplicates: rates.nonDuplicates,
          wrong_entry_hits: rates.wrongEntryHits,
          embedder: context.embedder.id,
          threshold,
        })}\n`,
      );
    } else {
      process.stdout.write(
        `${values.pairs}: ${rates.pairs} pairs (${rates.duplicates} duplicates), embedder ${context.embedder.id}, ` +
          `verifier threshold ${threshold}\n` +
          `  false-hit rate      ${pct(rates.falseHitRate)}  (non-duplicates served from the cache)\n` +
          `  duplicate hit rate  ${pct(rates.duplicateHitRate)}  (duplicates served their own entry)\n` +
          `  wrong-entry hits    ${rates.wrongEntryHits}  (duplicates served another entry)\n`,
      );
    }
    return 0;
  } finally {
    await context.embedder.close();
  }
}
