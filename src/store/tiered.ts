import type { MemoryKvStore } from './memory.js';
import type { KvEntry, KvStore } from './types.js';

/** A durable back that can be told about reads the front served (for its LRU order). */
export interface TierBack extends KvStore {
  markUsed?(keys: Iterable<string>): void;
}

/**
 * A memory front over a durable back (SQLite): reads try memory first and promote what they
 * find behind, keeping the back's expiry; writes, touches and deletes go to both. The back is
 * the authority: a key it no longer has is dropped from the front on touch, and keys its LRU
 * eviction removes must be dropped from the front (see `openBackend`, which wires that).
 *
 * Front hits are batched into the back's LRU order off the hot path (one transaction per
 * event-loop turn) and flushed before every write, so eviction there sees every use.
 *
 * Meant for one process per data directory. Several instances share state through Redis,
 * where a per-process front would serve entries another instance has purged.
 */
export class TieredKvStore implements KvStore {
  readonly #front: MemoryKvStore;
  readonly #back: TierBack;
  #used = new Set<string>();
  #flushQueued = false;

  constructor(front: MemoryKvStore, back: TierBack) {
    this.#front = front;
    this.#back = back;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<KvEntry | undefined> {
    const near = await this.#front.getEntry(key);
    if (near) {
      this.#noteUse(key);
      return near;
    }
    const far = await this.#back.getEntry(key);
    if (far) this.#front.setNow(key, far.value, far.expiresAt);
    return far;
  }

  async set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    this.#flushUses();
    // Back first: if the durable write fails, the front does not claim an entry that is not there.
    await this.#back.set(key, value, ttlSeconds);
    await this.#front.set(key, value, ttlSeconds);
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const kept = await this.#back.touch(key, ttlSeconds);
    if (kept) await this.#front.touch(key, ttlSeconds);
    else await this.#front.delete(key);
    return kept;
  }

  async delete(key: string): Promise<boolean> {
    const [back, front] = await Promise.all([this.#back.delete(key), this.#front.delete(key)]);
    return back || front;
  }

  async deletePrefix(prefix: string): Promise<number> {
    const [back] = await Promise.all([this.#back.deletePrefix(prefix), this.#front.deletePrefix(prefix)]);
    return back;
  }

  keys(prefix: string): AsyncIterable<string> {
    return this.#back.keys(prefix);
  }

  async close(): Promise<void> {
    this.#flushUses();
    await Promise.all([this.#front.close(), this.#back.close()]);
  }

  #noteUse(key: string): void {
    if (!this.#back.markUsed) return;
    this.#used.add(key);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => this.#flushUses());
  }

  #flushUses(): void {
    this.#flushQueued = false;
    if (this.#used.size === 0) return;
    const used = this.#used;
    this.#used = new Set();
    this.#back.markUsed?.(used);
  }
}
