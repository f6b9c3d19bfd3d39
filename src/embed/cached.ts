/**
 * Remembers the vectors of recently embedded texts (LRU by count), so a repeated question
 * costs a map lookup instead of a model call. Concurrent requests for the same text share
 * one embedding call.
 */
import type { Embedder } from './types.js';

export class CachedEmbedder implements Embedder {
  readonly id: string;
  readonly dims: number;
  /** Map iteration order is insertion order: re-inserting on a hit makes it an LRU. */
  private readonly vectors = new Map<string, Float32Array>();
  private readonly pending = new Map<string, Promise<Float32Array>>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: Embedder,
    private readonly maxEntries = 10_000,
  ) {
    if (!(maxEntries >= 0)) throw new TypeError('cached embedder: maxEntries must be >= 0');
    this.id = inner.id;
    this.dims = inner.dims;
  }

  embed(texts: string[]): Promise<Float32Array[]> {
    const result: Array<Float32Array | Promise<Float32Array>> = new Array(texts.length);
    const missing: string[] = [];
    texts.forEach((text, i) => {
      const known = this.vectors.get(text);
      if (known) {
        this.hits++;
        this.vectors.delete(text);
        this.vectors.set(text, known);
        result[i] = known;
        return;
      }
      const waiting = this.pending.get(text);
      if (waiting) {
        this.hits++;
        result[i] = waiting;
        return;
      }
      this.misses++;
      missing.push(text);
    });
    if (missing.length > 0) {
      const unique = [...new Set(missing)];
      const call = this.inner.embed(unique);
      unique.forEach((text, j) => {
        const one = call.then((rows) => rows[j]);
        // A failed call must not poison later attempts, and nobody may wait on it silently.
        one.catch(() => {});
        this.pending.set(text, one);
        one
          .then(
            (vector) => this.remember(text, vector),
            () => {},
          )
          .finally(() => this.pending.delete(text));
      });
      texts.forEach((text, i) => {
        if (result[i] === undefined) result[i] = this.pending.get(text)!;
      });
    }
    return Promise.all(result);
  }

  get size(): number {
    return this.vectors.size;
  }

  async close(): Promise<void> {
    this.vectors.clear();
    await this.inner.close();
  }

  private remember(text: string, vector: Float32Array): void {
    if (this.maxEntries === 0) return;
    // A view into a whole batch's buffer would keep the batch alive: keep a compact copy.
    this.vectors.set(text, vector.byteLength === vector.buffer.byteLength ? vector : vector.slice());
    if (this.vectors.size > this.maxEntries) {
      this.vectors.delete(this.vectors.keys().next().value!);
    }
  }
}
