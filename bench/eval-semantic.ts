/**
 * `npm run eval:semantic`: the shipped semantic hit decision on the shared test data.
 * QQP pairs (false hits on non-duplicates, duplicates served) and the paraphrase pairs
 * (paraphrases served), at the shipped threshold and as curves over thresholds, next to the
 * plain-cosine baseline. Prints a table; saves JSON and Markdown to bench/results/.
 *
 *   tsx bench/eval-semantic.ts [--qqp FILE] [--paraphrases FILE] [--data-dir DIR]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  cosineRatesAt,
  type EvalMode,
  evaluatePairs,
  openEvalContext,
  type PairOutcome,
  pct,
  type Rates,
  ratesAt,
} from '../src/cache/semantic/eval.js';
import { heldOutMask, readPairs } from '../src/cache/semantic/pairs.js';

const { values: args } = parseArgs({
  options: {
    qqp: { type: 'string', default: '../shared/data/qqp-pairs.jsonl' },
    paraphrases: { type: 'string', default: '../shared/data/paraphrases.jsonl' },
    'data-dir': { type: 'string', default: process.env.SLUICE_DATA_DIR ?? '.sluice' },
  },
});

const VERIFIER_THRESHOLDS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.925, 0.95];
const COSINE_THRESHOLDS = [0.85, 0.9, 0.93, 0.95, 0.96, 0.97, 0.977, 0.98, 0.99];

interface Row {
  set: string;
  pairs: number;
  falseHitRate: number | null;
  duplicateHitRate: number;
  note?: string;
}

async function main() {
  const started = Date.now();
  const context = await openEvalContext(args['data-dir']);
  try {
    const qqp = await readPairs(args.qqp);
    const para = await readPairs(args.paraphrases);
    const held = heldOutMask(qqp);
    const run = (pairs: typeof qqp, label: string, mode: EvalMode) =>
      evaluatePairs(context, pairs, label, mode);
    const qqpIsolated = await run(qqp, 'qqp', 'isolated');
    const paraIsolated = await run(para, 'paraphrases', 'isolated');
    context.progress('shared-scope runs (all a in one partition, HNSW path)…');
    const qqpShared = await run(qqp, 'qqp', 'shared');
    const paraShared = await run(para, 'paraphrases', 'shared');

    const threshold = context.verifier.model.threshold;
    const heldOut = qqpIsolated.filter((_, i) => held[i]);
    const fitted = qqpIsolated.filter((_, i) => !held[i]);
    const at = (outcomes: PairOutcome[]) => ratesAt(outcomes, threshold);
    const rows: Row[] = [
      row('QQP, all 10,000 pairs', at(qqpIsolated)),
      row('QQP, held-out half (not used for fitting)', at(heldOut)),
      row('QQP, fitted half', at(fitted)),
      row('paraphrases', at(paraIsolated), false),
    ];
    const sharedQqp = at(qqpShared);
    const sharedRows: Row[] = [
      {
        ...row('QQP, one shared scope', sharedQqp),
        note:
          `strict ${pct(sharedQqp.strictFalseHitRate)} counting any entry (${sharedQqp.sameTextHits} hits on an ` +
          `entry with the very same text); ${sharedQqp.wrongEntryHits} duplicates answered by another pair's entry`,
      },
      row('paraphrases, one shared scope', at(paraShared), false),
    ];
    const curve = VERIFIER_THRESHOLDS.map((t) => ({
      threshold: t,
      qqpHeldOut: pick(ratesAt(heldOut, t)),
      qqpAll: pick(ratesAt(qqpIsolated, t)),
      paraphrases: ratesAt(paraIsolated, t).duplicateHitRate,
    }));
    const cosineCurve = COSINE_THRESHOLDS.map((t) => ({
      threshold: t,
      qqpAll: pick(cosineRatesAt(qqpIsolated, t)),
      paraphrases: cosineRatesAt(paraIsolated, t).duplicateHitRate,
    }));

    const markdown = render(threshold, context.embedder.id, rows, sharedRows, curve, cosineCurve);
    process.stdout.write(`\n${markdown}\n`);
    const date = new Date().toISOString().slice(0, 10);
    await mkdir('bench/results', { recursive: true });
    const result = {
      date,
      embedder: context.embedder.id,
      threshold,
      provenance: context.verifier.model.provenance,
      protocol:
        'isolated: each a in its own fresh scope, its b looked up there; shared: all a in one scope (HNSW), ' +
        'every b searches all of them',
      rows,
      sharedRows,
      curve,
      cosineCurve,
      seconds: (Date.now() - started) / 1000,
    };
    await writeFile(`bench/results/semantic-eval-${date}.json`, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(`bench/results/semantic-eval-${date}.md`, `${markdown}\n`);
    process.stderr.write(`saved bench/results/semantic-eval-${date}.{json,md}\n`);
  } finally {
    await context.embedder.close();
  }
}

function row(set: string, rates: Rates, labelled = true): Row {
  return {
    set,
    pairs: rates.pairs,
    falseHitRate: labelled ? rates.falseHitRate : null,
    duplicateHitRate: rates.duplicateHitRate,
  };
}

function pick(rates: Rates) {
  return { falseHitRate: rates.falseHitRate, duplicateHitRate: rates.duplicateHitRate };
}

function render(
  threshold: number,
  embedder: string,
  rows: Row[],
  sharedRows: Row[],
  curve: Array<{
    threshold: number;
    qqpHeldOut: ReturnType<typeof pick>;
    qqpAll: ReturnType<typeof pick>;
    paraphrases: number;
  }>,
  cosineCurve: Array<{ threshold: number; qqpAll: ReturnType<typeof pick>; paraphrases: number }>,
): string {
  const out: string[] = [];
  out.push(`# Semantic cache evaluation (${embedder}, shipped verifier threshold ${threshold})`, '');
  out.push('Each `a` in its own fresh scope, its `b` looked up there (the decision the labels judge).', '');
  out.push('| pairs | n | false-hit rate | duplicate / paraphrase hit rate |', '|---|---|---|---|');
  for (const r of rows) {
    out.push(
      `| ${r.set} | ${r.pairs} | ${r.falseHitRate === null ? '–' : pct(r.falseHitRate)} | ${pct(r.duplicateHitRate)} |`,
    );
  }
  out.push('', 'All `a` in one shared scope (lookups go through the HNSW graph):', '');
  out.push('| pairs | n | false-hit rate (own entry) | hit rate | note |', '|---|---|---|---|---|');
  for (const r of sharedRows) {
    const fh = r.falseHitRate === null ? '–' : pct(r.falseHitRate);
    out.push(`| ${r.set} | ${r.pairs} | ${fh} | ${pct(r.duplicateHitRate)} | ${r.note ?? ''} |`);
  }
  out.push('', 'Curve over the verifier threshold:', '');
  out.push(
    '| threshold | QQP held-out false hits | QQP held-out duplicates | QQP all false hits | QQP all duplicates | paraphrases |',
    '|---|---|---|---|---|---|',
  );
  for (const c of curve) {
    out.push(
      `| ${c.threshold} | ${pct(c.qqpHeldOut.falseHitRate)} | ${pct(c.qqpHeldOut.duplicateHitRate)} | ` +
        `${pct(c.qqpAll.falseHitRate)} | ${pct(c.qqpAll.duplicateHitRate)} | ${pct(c.paraphrases)} |`,
    );
  }
  out.push('', 'Baseline, a plain cosine threshold on the nearest entry:', '');
  out.push('| cosine | QQP false hits | QQP duplicates | paraphrases |', '|---|---|---|---|');
  for (const c of cosineCurve) {
    out.push(
      `| ${c.threshold} | ${pct(c.qqpAll.falseHitRate)} | ${pct(c.qqpAll.duplicateHitRate)} | ${pct(c.paraphrases)} |`,
    );
  }
  return out.join('\n');
}

await main();
