import usearch from 'usearch';
const d = 512, n = 20000, Q = 300;
function clustered(n) { // 200 clusters, noise
  const C = 200; const cents = []; for (let c = 0; c < C; c++) cents.push(Float32Array.from({length: d}, () => Math.random() - 0.5));
  const m = new Float32Array(n * d);
  for (let i = 0; i < n; i++) { const c = cents[i % C]; let s = 0; for (let j = 0; j < d; j++) { const v = c[j] + 0.35 * (Math.random() - 0.5); m[i*d+j] = v; s += v*v; } s = 1/Math.sqrt(s); for (let j = 0; j < d; j++) m[i*d+j] *= s; }
  return m;
}
function random(n) { const m = new Float32Array(n * d); for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < d; j++) { const v = Math.random() - 0.5; m[i*d+j] = v; s += v*v; } s = 1/Math.sqrt(s); for (let j = 0; j < d; j++) m[i*d+j] *= s; } return m; }
for (const [name, data] of [['random', random(n)], ['clustered', clustered(n)]]) {
  const queries = []; for (let q = 0; q < Q; q++) { const i = Math.floor(Math.random() * n); const v = data.slice(i*d, (i+1)*d); for (let j = 0; j < d; j++) v[j] += 0.02 * (Math.random() - 0.5); queries.push(v); }
  const truth = queries.map(q => usearch.exactSearch(data, q, d, 1, 'cos').keys[0]);
  for (const quant of ['f32', 'f16', 'i8']) for (const [ea, es] of [[64, 64], [128, 64], [64, 128]]) {
    const idx = new usearch.Index({dimensions: d, metric: 'cos', quantization: quant, connectivity: 16, expansion_add: ea, expansion_search: es, multi: false});
    const keys = new BigUint64Array(n).map((_, i) => BigInt(i));
    let t = performance.now(); idx.add(keys, data, 2); const build = performance.now() - t;
    let ok = 0; const lat = [];
    for (let q = 0; q < Q; q++) { t = performance.now(); const r = idx.search(queries[q], 10, 1); lat.push(performance.now() - t); if (r.keys[0] === truth[q] || [...r.keys].includes(truth[q])) ok++; }
    lat.sort((a, b) => a - b);
    console.log(name, quant, ea, es, 'build', (build/1000).toFixed(1), 's recall@10', (ok / Q).toFixed(3), 'p50', lat[Q/2|0].toFixed(3), 'p99', lat[Math.floor(Q*0.99)].toFixed(3));
  }
}
