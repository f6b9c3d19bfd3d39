import { readFileSync } from 'node:fs';
import { UseLiteEmbedder } from './src/embed/use-lite.js';
import { EvalVectorCache } from './src/cache/semantic/eval-vectors.js';
import { dot } from './src/embed/types.js';
const e = new UseLiteEmbedder();
const c = await EvalVectorCache.open(e, '.sluice/eval-cache');
function load(f: string) { return readFileSync('/work/shared/data/' + f, 'utf8').split('\n').filter(l => l.trim()).map(l => JSON.parse(l)); }
const q = load('qqp-pairs.jsonl');
const qa = await c.embedAll(q.map((x: any) => x.a)), qb = await c.embedAll(q.map((x: any) => x.b));
const mode = process.argv[2];
let n = 0;
for (let i = 0; i < q.length && n < 40; i++) { const s = dot(qa[i], qb[i]); if (s > 0.9 && String(q[i].duplicate) === mode) { n++; console.log(s.toFixed(3), '|', q[i].a, '|', q[i].b); } }
await e.close();
