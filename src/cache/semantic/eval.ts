/**
 * `sluice eval-semantic --pairs FILE [--json] [--shared]`: the shipped semantic hit decision on
 * a file of text pairs, through the real SemanticCache (index, verifier, thresholds).
 *
 * Default ("isolated"): each `a` goes into a fresh scope of its own (one partition per pair)
 * and its `b` is looked up there — exactly the question the labels answer. A hit on a
 * non-duplicate pair is a false hit; a hit on a duplicate pair is a duplicate hit.
 *
 * `--shared`: all `a`s go into one partition and every `b` searches all of them (exercises the
 * HNSW path). A `b` may then hit another pair's `a` — often the very same question text, which
 * the labels cannot judge; such hits are counted apart (`other*` fields), and a strict false-hit
 * rate counts every hit on a non-duplicate pair.
 *
 * Embeddings are cached on disk under `<data dir>/eval-cache`, so reruns take seconds.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Embedder } from '../../embed/types.js';
import { UseLiteEmbedder } from '../../embed/use-lite.js';
import { SemanticCache } from './cache.js';
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
  /** Shared mode: the best-scoring other entry has exactly the query's text. */
  otherIsSameText: boolean;
}

export interface Rates {
  pairs: number;
  duplicates: number;
  nonDuplicates: number;
  falseHitRate: number;
  duplicateHitRate: number;
  /** Duplicate pairs answered with another entry than their own `a` (shared mode only). */
  wrongEntryHits: number;
  /** Shared mode: every hit on a non-duplicate pair, including hits on other pairs' entries. */
  strictFalseHitRate: number;
  /** Shared mode: non-duplicate pairs answered by another entry with the very same text. */
  sameTextHits: number;
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
  let ownFalseHits = 0;
  let otherHitsOnNonDuplicates = 0;
  let sameTextHits = 0;
  let wrongEntryHits = 0;
  for (const o of outcomes) {
    const decision = decide(o);
    if (o.duplicate) {
      duplicates++;
      if (decision === 'own') duplicateHits++;
      if (decision === 'other') wrongEntryHits++;
    } else if (decision === 'own') ownFalseHits++;
    else if (decision === 'other') {
      otherHitsOnNonDuplicates++;
      if (o.otherIsSameText) sameTextHits++;
    }
  }
  const nonDuplicates = outcomes.length - duplicates;
  const rate = (n: number, of: number) => (of > 0 ? n / of : 0);
  return {
    pairs: outcomes.length,
    duplicates,
    nonDuplicates,
    falseHitRate: rate(ownFalseHits, nonDuplicates),
    duplicateHitRate: rate(duplicateHits, duplicates),
    wrongEntryHits,
    strictFalseHitRate: rate(ownFalseHits + otherHitsOnNonDuplicates, nonDuplicates),
    sameTextHits,
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

export type EvalMode = 'isolated' | 'shared';

/** Puts the `a`s in a fresh cache, examines every `b`; returns one outcome per pair. */
export async function evaluatePairs(
  context: EvalContext,
  pairs: TextPair[],
  label: string,
  mode: EvalMode = 'isolated',
): Promise<PairOutcome[]> {
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
    const partitionOf = (i: number) => (mode === 'shared' ? 'eval' : `pair:${i}`);
    pairs.forEach((pair, i) => void cache.insert(partitionOf(i), pair.a, `a:${i}`, 0));
    await cache.flushPending();
    await cache.settled();
    const outcomes: PairOutcome[] = [];
    for (const [i, pair] of pairs.entries()) {
      const { candidates, nearest } = await cache.examine(partitionOf(i), pair.b);
      const textOf = (c: { entryKey: string }) => pairs[Number(c.entryKey.slice(2))].a;
      const isOwn = (c: { entryKey: string }) => textOf(c) === pair.a;
      let ownScore = 0;
      let otherScore = 0;
      let otherIsSameText = false;
      for (const c of candidates) {
        if (isOwn(c)) ownScore = Math.max(ownScore, c.score);
        else if (c.score > otherScore) {
          otherScore = c.score;
          otherIsSameText = textOf(c) === pair.b;
        }
      }
      outcomes.push({
        duplicate: pair.duplicate,
        ownScore,
        otherScore,
        // The nearest entry, whatever the pre-filter, for the cosine baseline.
        topSimilarity: nearest?.similarity ?? 0,
        topIsOwn: nearest !== undefined && isOwn(nearest),
        otherIsSameText,
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
      shared: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
    },
  });
  if (!values.pairs) {
    process.stderr.write('usage: sluice eval-semantic --pairs FILE [--json] [--shared]\n');
    return 2;
  }
  const dataDir = values['data-dir'] ?? process.env.SLUICE_DATA_DIR ?? '.sluice';
  const context = await openEvalContext(dataDir);
  try {
    const pairs = await readPairs(values.pairs);
    const mode: EvalMode = values.shared ? 'shared' : 'isolated';
    const outcomes = await evaluatePairs(context, pairs, values.pairs, mode);
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
          embedder: context.embedder.id,
          threshold,
          mode,
          ...(mode === 'shared'
            ? {
                strict_false_hit_rate: rates.strictFalseHitRate,
                same_text_hits: rates.sameTextHits,
                wrong_entry_hits: rates.wrongEntryHits,
              }
            : {}),
        })}\n`,
      );
    } else {
      const lines = [
        `${values.pairs}: ${rates.pairs} pairs (${rates.duplicates} duplicates), ${mode} scopes, ` +
          `embedder ${context.embedder.id}, verifier threshold ${threshold}`,
        `  false-hit rate      ${pct(rates.falseHitRate)}  (non-duplicates answered with their pair's entry)`,
        `  duplicate hit rate  ${pct(rates.duplicateHitRate)}  (duplicates answered with their pair's entry)`,
      ];
      if (mode === 'shared') {
        lines.push(
          `  strict false hits   ${pct(rates.strictFalseHitRate)}  (non-duplicates answered with any entry; ` +
            `${rates.sameTextHits} of them by an entry with the very same text)`,
          `  wrong-entry hits    ${rates.wrongEntryHits}  (duplicates answered with another pair's entry)`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  } finally {
    await context.embedder.close();
  }
}
