import usearch from 'usearch';
const d = 512;
const mk = () => new usearch.Index({dimensions: d, metric: 'cos', quantization: 'f32', connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false});
const n = 5000;
const mat = new Float32Array(n * d).map(() => Math.random() - 0.5);
const keys = new BigUint64Array(n).map((_, i) => BigInt(i));
for (const th of [1, 2]) { const idx = mk(); const t = performance.now(); idx.add(keys, mat, th); console.log('batch threads', th, (performance.now() - t).toFixed(0), 'ms'); }
{ const idx = mk(); const t = performance.now(); for (let i = 0; i < n; i++) idx.add(BigInt(i), mat.slice(i*d, (i+1)*d)); console.log('single adds', (performance.now() - t).toFixed(0), 'ms'); }
{ const idx = mk(); const t = performance.now(); for (let i = 0; i < n; i += 500) idx.add(keys.slice(i, i+500), mat.slice(i*d, (i+500)*d), 2); console.log('chunks of 500, 2 threads', (performance.now() - t).toFixed(0), 'ms'); }
