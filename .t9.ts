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
  return pairs.map((p, i) => { const A = profileText(p.a), B = profileText(p.b); return { p, cos: dot(va[i], vb[i]), len: Math.min(A.words.length, B.words.length), ev: compareProfiles(A, B) }; });
}
const q = await load('/work/shared/data/qqp-pairs.jsonl');
const para = await load('/work/shared/data/paraphrases.jsonl');
const ok = (r: any) => !r.ev.numberMismatch && !r.ev.negationMismatch && !r.ev.unmatchedNames;
for (const [lo, hi] of [[0, 3], [4, 5], [6, 8], [9, 12], [13, 99]]) {
  const b = (rs: any[]) => rs.filter(r => r.len >= lo && r.len <= hi);
  const neg = b(q.filter(r => !r.p.duplicate)), pos = b(q.filter(r => r.p.duplicate)), pp = b(para);
  const line = [0.85, 0.9, 0.93, 0.95, 0.97].map(t => { const f = (rs: any[]) => rs.length ? (100 * rs.filter(r => r.cos >= t && ok(r)).length / rs.length).toFixed(1) : '-'; return `${t}: ${f(neg)}/${f(pos)}/${f(pp)}`; });
  console.log(`len ${lo}-${hi} n=${neg.length}/${pos.length}/${pp.length}`, line.join('  '));
}
await e.close();
