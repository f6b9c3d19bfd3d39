/**
 * A deterministic, offline stand-in embedder for semantic-cache tests that are about the
 * cache's mechanics (partitions, expiry, persistence, index paths), not about meaning.
 * Bag of words hashed into 64 dimensions: the same words give the same vector.
 */
import { createHash } from 'node:crypto';
import { type Embedder, normalise } from '../src/embed/types.js';

export class WordHashEmbedder implements Embedder {
  readonly dims = 64;
  calls: string[][] = [];
  constructor(readonly id = 'word-hash@1') {}

  async embed(texts: string[]): Promise<Float32Array[]> {
    this.calls.push(texts);
    return texts.map((text) => {
      const v = new Float32Array(this.dims);
      for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        const h = createHash('sha256').update(word).digest();
        v[h[0] % this.dims] += 1;
        v[h[1] % this.dims] += h[2] & 1 ? 0.5 : -0.5;
      }
      return normalise(v);
    });
  }

  async close(): Promise<void> {}
}

/** A random unit vector (seeded) for index tests. */
export function unitVector(dims: number, seed: number): Float32Array {
  let x = seed * 2654435761 + 1;
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v[i] = (x >>> 0) / 4294967296 - 0.5;
  }
  return normalise(v);
}
