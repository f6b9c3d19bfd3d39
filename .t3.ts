import { readFileSync } from 'node:fs';
import { UseLiteEmbedder } from './src/embed/use-lite.js';
import { EvalVectorCache } from './src/cache/semantic/eval-vectors.js';
const e = new UseLiteEmbedder();
const c = await EvalVectorCache.open(e, '.sluice/eval-cache');
const texts: string[] = [];
for (const f of ['qqp-pairs.jsonl', 'paraphrases.jsonl']) for (const l of readFileSync('/work/shared/data/' + f, 'utf8').split('\n')) if (l.trim()) { const p = JSON.parse(l); texts.push(p.a, p.b); }
const t = performance.now();
await c.embedAll(texts, (d, n) => { if (d % 1280 === 0 || d === n) console.log(d, n, ((performance.now() - t) / 1000).toFixed(1)); });
await e.close();
