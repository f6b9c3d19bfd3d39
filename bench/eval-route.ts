/**
 * `npm run eval:route`: accuracy of `auto` routing on the labelled prompts in
 * bench/route-prompts.jsonl (easy → cheap, hard → strong; several languages), and the cost it
 * saves against sending everything to the strong model.
 *
 * Three routers are compared on the same prompts: the keyword rules alone (`mode: rules`, the
 * default), the semantic score alone (USE-lite embedding vs the shipped exemplars), and the
 * shipped semantic mode (rules as overrides, then the score). The evaluation prompts are
 * checked to be disjoint from the router's exemplars.
 *
 * Cost: prompt tokens counted with the gateway's tokenizer for each model; output tokens are
 * not in the data, so an assumption per label is used (--easy-output, --hard-output) and
 * printed with the result. Prices from the gateway's price book.
 *
 *   tsx bench/eval-route.ts [--data FILE] [--cheap MODEL] [--strong MODEL]
 *                           [--easy-output N] [--hard-output N] [--threshold X]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { costOf } from '../src/cost/cost.js';
import { PriceBook } from '../src/cost/prices.js';
import { UseLiteEmbedder } from '../src/embed/use-lite.js';
import { ComplexityRouter } from '../src/route/complexity.js';
import { routingConfigSchema } from '../src/route/config.js';
import { SemanticTierScorer } from '../src/route/semantic-tier.js';
import { countText } from '../src/tokens/count.js';

type Tier = 'cheap' | 'strong';
interface Labelled {
  text: string;
  label: Tier;
  lang: string;
}

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: 'bench/route-prompts.jsonl' },
    cheap: { type: 'string', default: 'gpt-4o-mini' },
    strong: { type: 'string', default: 'gpt-4o' },
    'easy-output': { type: 'string', default: '150' },
    'hard-output': { type: 'string', default: '800' },
    threshold: { type: 'string' },
  },
});

const prompts: Labelled[] = (await readFile(args.data, 'utf8'))
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line, i) => {
    const row = JSON.parse(line) as Labelled;
    if (typeof row.text !== 'string' || (row.label !== 'cheap' && row.label !== 'strong') || !row.lang) {
      throw new Error(`${args.data}:${i + 1}: needs text, label (cheap|strong) and lang`);
    }
    return row;
  });

const config = routingConfigSchema.parse({
  aliases: {
    auto: {
      cheap: args.cheap,
      strong: args.strong,
      mode: 'semantic',
      ...(args.threshold !== undefined ? { semantic: { threshold: Number(args.threshold) } } : {}),
    },
  },
});
const alias = config.aliases.auto;
const normalise = (text: string) => text.trim().toLowerCase();
const exemplarTexts = new Set(
  [...alias.semantic.exemplars.cheap, ...alias.semantic.exemplars.strong].map(normalise),
);
const overlap = prompts.filter((p) => exemplarTexts.has(normalise(p.text)));
if (overlap.length > 0) {
  throw new Error(
    `evaluation prompts must not be router exemplars: ${overlap.map((p) => p.text).join(' | ')}`,
  );
}

const router = new ComplexityRouter(config);
const embedder = new UseLiteEmbedder();
const scorer = new SemanticTierScorer(embedder, alias.semantic.exemplars, {
  topK: alias.semantic.topK,
  threshold: alias.semantic.threshold,
});
const warmStart = performance.now();
await scorer.warm();
const warmMs = performance.now() - warmStart;

interface Outcome {
  prompt: Labelled;
  rules: Tier;
  semantic: Tier;
  shipped: Tier;
  /** Which rule matched, if any. */
  rule: string | undefined;
  score: number;
  ms: number;
}

const outcomes: Outcome[] = [];
for (const prompt of prompts) {
  const signals = {
    text: prompt.text.trim(),
    hasTools: false,
    contextTokens: () => countText(prompt.text, alias.strong).tokens,
  };
  const byRule = router.matchRule('auto', signals);
  const start = performance.now();
  const tier = await scorer.score(signals.text);
  const ms = performance.now() - start;
  outcomes.push({
    prompt,
    rules: byRule?.use ?? alias.default,
    semantic: tier.use,
    shipped: byRule?.use ?? tier.use,
    rule: byRule?.rule,
    score: tier.score,
    ms,
  });
}
await embedder.close();

const MODES = ['rules', 'semantic', 'shipped'] as const;
type Mode = (typeof MODES)[number];
const MODE_NAMES: Record<Mode, string> = {
  rules: 'keyword rules only (`mode: rules`, default)',
  semantic: 'semantic score only',
  shipped: '`mode: semantic` (rules override, then score)',
};

const prices = new PriceBook();
const easyOutput = Number(args['easy-output']);
const hardOutput = Number(args['hard-output']);
function costUsd(prompt: Labelled, tier: Tier): number {
  const model = alias[tier];
  const pricing = prices.lookup(model);
  if (!pricing) throw new Error(`no price for ${model}`);
  const usage = {
    inputTokens: countText(prompt.text, model).tokens,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: prompt.label === 'strong' ? hardOutput : easyOutput,
  };
  const cost = costOf(usage, pricing);
  if (cost.unpriced) throw new Error(`no price for ${model}`);
  return cost.totalUsd;
}

const pct = (n: number, d: number) => (d === 0 ? '–' : `${((100 * n) / d).toFixed(1)} %`);
const languages = [...new Set(prompts.map((p) => p.lang))];
const strongCost = outcomes.reduce((sum, o) => sum + costUsd(o.prompt, 'strong'), 0);
const oracleCost = outcomes.reduce((sum, o) => sum + costUsd(o.prompt, o.prompt.label), 0);

const lines: string[] = [];
lines.push(
  `${prompts.length} prompts (${prompts.filter((p) => p.label === 'cheap').length} easy, ` +
    `${prompts.filter((p) => p.label === 'strong').length} hard; ` +
    languages.map((l) => `${l} ${prompts.filter((p) => p.lang === l).length}`).join(', ') +
    `), cheap = ${alias.cheap}, strong = ${alias.strong}, threshold ${alias.semantic.threshold}, topK ${alias.semantic.topK}, ` +
    `${alias.semantic.exemplars.cheap.length} + ${alias.semantic.exemplars.strong.length} exemplars (disjoint from the prompts).`,
);
lines.push('');
lines.push(
  `| router | accuracy | ${languages.join(' | ')} | hard → cheap (of hard) | easy → strong (of easy) | cost vs always-strong | saved |`,
);
lines.push(`|---|--:|${languages.map(() => '--:').join('|')}|--:|--:|--:|--:|`);
for (const mode of MODES) {
  const right = outcomes.filter((o) => o[mode] === o.prompt.label).length;
  const perLang = languages.map((lang) => {
    const mine = outcomes.filter((o) => o.prompt.lang === lang);
    return pct(mine.filter((o) => o[mode] === o.prompt.label).length, mine.length);
  });
  const hard = outcomes.filter((o) => o.prompt.label === 'strong');
  const easy = outcomes.filter((o) => o.prompt.label === 'cheap');
  const cost = outcomes.reduce((sum, o) => sum + costUsd(o.prompt, o[mode]), 0);
  lines.push(
    `| ${MODE_NAMES[mode]} | ${pct(right, outcomes.length)} | ${perLang.join(' | ')} | ` +
      `${pct(hard.filter((o) => o[mode] === 'cheap').length, hard.length)} | ` +
      `${pct(easy.filter((o) => o[mode] === 'strong').length, easy.length)} | ` +
      `$${cost.toFixed(4)} / $${strongCost.toFixed(4)} | ${pct(strongCost - cost, strongCost)} |`,
  );
}
lines.push(
  `| perfect routing (labels), for reference | 100 % | ${languages.map(() => '').join(' | ')} | 0 % | 0 % | ` +
    `$${oracleCost.toFixed(4)} / $${strongCost.toFixed(4)} | ${pct(strongCost - oracleCost, strongCost)} |`,
);
const latencies = outcomes.map((o) => o.ms).sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
lines.push('');
lines.push(
  `Output tokens assumed: ${easyOutput} per easy prompt, ${hardOutput} per hard one (the data has none). ` +
    `Embedding one prompt (one at a time, worker thread): p50 ${q(0.5).toFixed(0)} ms, p90 ${q(0.9).toFixed(0)} ms; ` +
    `start-up with exemplars ${(warmMs / 1000).toFixed(1)} s. Rules decided ${outcomes.filter((o) => o.rule).length} of ${outcomes.length} prompts in semantic mode.`,
);
// USE-lite's vocabulary is mostly English: a prompt made only of words it does not know
// embeds like any other such prompt. Count prompts whose score another prompt shares exactly.
const scoreCounts = new Map<number, number>();
for (const o of outcomes) scoreCounts.set(o.score, (scoreCounts.get(o.score) ?? 0) + 1);
const collapsed = languages
  .map((lang) => {
    const mine = outcomes.filter((o) => o.prompt.lang === lang);
    return `${lang} ${mine.filter((o) => (scoreCounts.get(o.score) ?? 0) > 1).length}/${mine.length}`;
  })
  .join(', ');
lines.push('');
lines.push(
  `Prompts whose embedding is not told apart from another prompt's (identical score: out-of-vocabulary text): ${collapsed}.`,
);
lines.push('');
lines.push('Misrouted by `mode: semantic`:');
for (const o of outcomes.filter((x) => x.shipped !== x.prompt.label)) {
  lines.push(
    `- [${o.prompt.lang}] ${o.prompt.label} → ${o.shipped} (${o.rule ? `rule ${o.rule}` : `score ${o.score.toFixed(3)}`}): ${o.prompt.text.slice(0, 90)}`,
  );
}
console.log(lines.join('\n'));
