import usearch from 'usearch';
const d = 64;
const idx = new usearch.Index({dimensions: d, metric: 'cos', quantization: 'f32', connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false});
const rv = () => Float32Array.from({length: d}, () => Math.random() - 0.5);
const N = 2000;
for (let i = 0; i < N; i++) idx.add(BigInt(i), rv());
let next = N;
const live = []; for (let i = 0; i < N; i++) live.push(i);
for (let round = 0; round < 20; round++) {
  for (let i = 0; i < N / 2; i++) { const k = live.shift(); idx.remove(BigInt(k)); }
  for (let i = 0; i < N / 2; i++) { idx.add(BigInt(next), rv()); live.push(next++); }
  if (round % 4 === 3) console.log('round', round, 'size', idx.size(), 'cap', idx.capacity(), 'rss', (process.memoryUsage().rss/1e6).toFixed(0));
}
// reuse the same key after removal
idx.remove(BigInt(live[0])); idx.add(BigInt(live[0]), rv()); console.log('re-add ok', idx.contains(BigInt(live[0])));
// recall after churn
let hit = 0; for (let t = 0; t < 200; t++) { const k = live[Math.floor(Math.random()*live.length)]; }
