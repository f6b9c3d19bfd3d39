import { EvalVectorCache } from './src/cache/semantic/eval-vectors.js';
import { compareProfiles, profileText } from './src/cache/semantic/lexical.js';
import { readPairs } from './src/cache/semantic/pairs.js';
import { dot } from './src/embed/types.js';
import { UseLiteEmbedder } from './src/embed/use-lite.js';
const e = new UseLiteEmbedder();
const c = await EvalVectorCache.open(e, '.sluice/eval-cache');
async function load(f: string) {
  const pairs = await readPairs(f);
  const va = await c.embedAll(pairs.map(p => p.a)), vb = await c.embedAll(pairs.map(p => p.b));
  return pairs.map((p, i) => ({ p, cos: dot(va[i], vb[i]), ev: compareProfiles(profileText(p.a), profileText(p.b)) }));
}
const q = await load('/work/shared/data/qqp-pairs.jsonl');
const para = await load('/work/shared/data/paraphrases.jsonl');
const rules: Record<string, (r: any) => boolean> = {
  veto: r => !r.ev.numberMismatch && !r.ev.negationMismatch && !r.ev.unmatchedNames,
  vetoQM: r => !r.ev.numberMismatch && !r.ev.negationMismatch && !r.ev.unmatchedNames && !r.ev.questionMismatch && !r.ev.markerMismatch,
  uw0: r => rules.vetoQM(r) && r.ev.unmatchedWords === 0,
  noOneSided: r => rules.vetoQM(r) && r.ev.oneSidedSurprisal === 0,
  swapLow: r => rules.vetoQM(r) && r.ev.oneSidedSurprisal === 0 && r.ev.swappedSurprisal < 15,
  shareLow: r => rules.vetoQM(r) && r.ev.oneSidedSurprisal === 0 && r.ev.unmatchedShare < 0.3,
};
for (const [name, rule] of Object.entries(rules)) {
  for (const t of [0.85, 0.9, 0.93, 0.95, 0.97]) {
    const neg = q.filter(r => !r.p.duplicate), pos = q.filter(r => r.p.duplicate);
    const f = (rs: any[]) => rs.filter(r => r.cos >= t && rule(r)).length / rs.length;
    console.log(name.padEnd(12), t, 'FH', (100 * f(neg)).toFixed(2), 'DH', (100 * f(pos)).toFixed(1), 'PARA', (100 * f(para)).toFixed(1));
  }
}
await e.close();
