/**
 * A Map that forgets its oldest entry once it holds `limit` entries. The mock memoises
 * replies, token counts and embeddings by request content; a benchmark sending endless
 * distinct prompts must not grow the process without bound.
 */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();
  readonly #limit: number;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new TypeError(`limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): void {
    if (this.#map.size >= this.#limit && !this.#map.has(key)) {
      // Map iterates in insertion order, so the first key is the oldest.
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, value);
  }

  delete(key: K): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
