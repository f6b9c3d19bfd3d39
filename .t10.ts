import { EvalVectorCache } from './src/cache/semantic/eval-vectors.js';
import { compareProfiles, profileText, stemWord, type Word } from './src/cache/semantic/lexical.js';
import { readPairs } from './src/cache/semantic/pairs.js';
import { dot } from './src/embed/types.js';
import { UseLiteEmbedder } from './src/embed/use-lite.js';
const e = new UseLiteEmbedder();
const c = await EvalVectorCache.open(e, '.sluice/eval-cache');
const same = (x: string, y: string) => x === y || (Math.min(x.length, y.length) >= 5 && (x.startsWith(y) || y.startsWith(x)));
const un = (m: Word[], t: Word[]) => m.filter(w => !t.some(o => same(w.stem, o.stem)));
async function load(f: string) {
  const pairs = await readPairs(f);
  const va = await c.embedAll(pairs.map(p => p.a)), vb = await c.embedAll(pairs.map(p => p.b));
  return pairs.map((p, i) => { const A = profileText(p.a), B = profileText(p.b); return { p, A, B, cos: dot(va[i], vb[i]), ev: compareProfiles(A, B), ua: un(A.words, B.words), ub: un(B.words, A.words) }; });
}
const q = await load('/work/shared/data/qqp-pairs.jsonl');
const para = await load('/work/shared/data/paraphrases.jsonl');
const rows = [...q, ...para].filter(r => r.cos >= 0.85);
const words = new Set<string>();
for (const r of rows) for (const w of [...r.A.words, ...r.B.words]) words.add(w.text.toLowerCase());
console.log('unique words', words.size);
const list = [...words];
const vecs = await c.embedAll(list, (d, n) => d % 1280 === 0 && console.error(d, n));
const wv = new Map(list.map((w, i) => [w, vecs[i]]));
// alignment: for each unmatched word on a side, best cos to any word on the other side; feature = min over unmatched words
function align(r: any) {
  let worst = 1;
  for (const [mine, theirs] of [[r.ua, r.B.words], [r.ub, r.A.words]] as [Word[], Word[]][]) {
    for (const w of mine) { let best = -1; for (const o of theirs) best = Math.max(best, dot(wv.get(w.text.toLowerCase())!, wv.get(o.text.toLowerCase())!)); worst = Math.min(worst, best); }
  }
  return worst;
}
const ok = (r: any) => !r.ev.numberMismatch && !r.ev.negationMismatch && !r.ev.unmatchedNames && !r.ev.questionMismatch && !r.ev.markerMismatch;
for (const at of [0.5, 0.6, 0.7]) for (const t of [0.85, 0.9, 0.93, 0.95]) {
  const f = (rs: any[], n: number) => (100 * rs.filter(r => r.cos >= t && ok(r) && align(r) >= at).length / n).toFixed(2);
  const neg = q.filter(r => !r.p.duplicate), pos = q.filter(r => r.p.duplicate);
  console.log('align>=', at, 'cos>=', t, 'FH', f(neg, neg.length), 'DH', f(pos, pos.length), 'PARA', f(para, para.length));
}
await e.close();
