import { readFileSync } from 'node:fs';
import { UseLiteEmbedder } from './src/embed/use-lite.js';
import { EvalVectorCache } from './src/cache/semantic/eval-vectors.js';
import { dot } from './src/embed/types.js';
const e = new UseLiteEmbedder();
const c = await EvalVectorCache.open(e, '.sluice/eval-cache');
function load(f: string) { return readFileSync('/work/shared/data/' + f, 'utf8').split('\n').filter(l => l.trim()).map(l => JSON.parse(l)); }
const q = load('qqp-pairs.jsonl'), p = load('paraphrases.jsonl');
const qa = await c.embedAll(q.map((x: any) => x.a)), qb = await c.embedAll(q.map((x: any) => x.b));
const pa = await c.embedAll(p.map((x: any) => x.a)), pb = await c.embedAll(p.map((x: any) => x.b));
const cos = q.map((_: any, i: number) => dot(qa[i], qb[i]));
const neg = cos.filter((_: number, i: number) => !q[i].duplicate).sort((a: number, b: number) => b - a);
const pos = cos.filter((_: number, i: number) => q[i].duplicate);
for (const f of [0.005, 0.01, 0.02, 0.05, 0.1]) {
  const t = neg[Math.floor(neg.length * f)];
  const pc = p.map((_: any, i: number) => dot(pa[i], pb[i]));
  console.log(f, t.toFixed(4), (pos.filter((x: number) => x > t).length / pos.length).toFixed(3), (pc.filter((x: number) => x > t).length / pc.length).toFixed(3));
}
const pc = p.map((_: any, i: number) => dot(pa[i], pb[i])).sort((a: number, b: number) => a - b);
console.log('para cos quantiles', [0.05, 0.1, 0.2, 0.5, 0.8].map(f => pc[Math.floor(pc.length * f)].toFixed(3)));
// top-1 among all a's for paraphrases
let own = 0; for (let i = 0; i < p.length; i++) { let best = -1, bi = -1; for (let j = 0; j < p.length; j++) { const s = dot(pb[i], pa[j]); if (s > best) { best = s; bi = j; } } if (bi === i || p[bi].a === p[i].a) own++; }
console.log('para top1 own', own / p.length);
await e.close();
