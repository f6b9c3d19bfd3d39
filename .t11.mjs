import usearch from 'usearch';
const d = 8;
const idx = new usearch.Index({dimensions: d, metric: 'cos', quantization: 'f32', connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false});
const rv = () => Float32Array.from({length: d}, () => Math.random() - 0.5);
for (let i = 0; i < 1000; i++) idx.add(BigInt(i), rv());
console.log('size', idx.size(), 'cap', idx.capacity());
for (let round = 0; round < 5; round++) {
  const base = 1000 * (round + 1);
  for (let i = 0; i < 1000; i++) idx.remove(BigInt(base - 1000 + i));
  for (let i = 0; i < 1000; i++) idx.add(BigInt(base + i), rv());
  console.log('after churn', round, 'size', idx.size(), 'cap', idx.capacity());
}
// exactSearch with flat dataset
const n = 100; const flat = new Float32Array(n * d); for (let i = 0; i < flat.length; i++) flat[i] = Math.random() - 0.5;
const q = flat.slice(5 * d, 6 * d);
const r = usearch.exactSearch(flat, q, d, 3, 'cos');
console.log(r);
// batch add
const keys = new BigUint64Array(1000).map((_, i) => BigInt(100000 + i));
const mat = new Float32Array(1000 * d).map(() => Math.random());
const j = new usearch.Index({dimensions: d, metric: 'cos', quantization: 'f32', connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false});
j.add(keys, mat, 4); console.log('batch', j.size());
const vs = []; for (let i = 0; i < 10; i++) vs.push(mat.slice(i*d, (i+1)*d));
try { j.add(new BigUint64Array([1n,2n]), [vs[0], vs[1]]); console.log('matrix add ok', j.size()); } catch (e) { console.log('matrix add', e.message); }
