/**
 * The semantic cache (L2): maps the last user turn of a request to the exact-cache key of a
 * stored response, by meaning, inside a partition that holds everything else fixed.
 *
 * - Lookup embeds the question, takes the nearest entries of its partition (exact scan when
 *   small, HNSW when large) and lets the verifier decide; the best verified candidate wins.
 * - Insert is lazy: it records the text and embeds it only when its partition is first
 *   searched. Most partitions (any multi-turn conversation is its own) are never searched,
 *   so most entries never cost an embedding.
 * - Entries expire (TTL), are evicted oldest-first beyond `maxEntries` (a hit renews an
 *   entry's place), and are saved to / rebuilt from a directory.
 */
import type { Embedder } from '../../embed/types.js';
import { profileText, type TextProfile } from './lexical.js';
import { type HnswOptions, PartitionIndex } from './partition-index.js';
import { loadEntries, type SavedEntry, saveEntries } from './persist.js';
import type { Verifier, Veto } from './verifier.js';

export interface Candidate {
  entryKey: string;
  similarity: number;
  /** The verifier's score (0 when vetoed). */
  score: number;
  veto?: Veto;
}

export interface Examination {
  /** Neighbours above the verifier's cosine pre-filter, best cosine first. */
  candidates: Candidate[];
  /** The nearest live entry, whatever its cosine. */
  nearest?: { entryKey: string; similarity: number };
}

export type LookupResult =
  | { hit: true; entryKey: string; similarity: number; score: number }
  | { hit: false; bestSimilarity?: number };

export interface SemanticCacheOptions {
  embedder: Embedder;
  verifier: Verifier;
  /** Nearest neighbours examined per lookup. */
  candidates?: number;
  maxEntries?: number;
  exactScanMax?: number;
  hnsw?: Partial<HnswOptions>;
  /** Texts are cut to this length before embedding and profiling. */
  maxTextChars?: number;
  /** Directory to save to and load from; no persistence without it. */
  dir?: string;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

interface Entry {
  id: number;
  partition: string;
  text: string;
  entryKey: string;
  /** Epoch ms; Infinity = no expiry. */
  expiresAt: number;
  /** Word-level profile, computed the first time the entry is a candidate. */
  profile?: TextProfile;
}

interface Partition {
  index: PartitionIndex;
  /** Entries inserted but not yet embedded. */
  pending: Entry[];
  /** A background embedding of `pending` is running. */
  draining?: boolean;
}

/** Pending entries embedded along with a query; more are embedded in the background. */
const PENDING_PER_LOOKUP = 31;

export interface SemanticCacheStats {
  entries: number;
  partitions: number;
  lookups: number;
  hits: number;
  /** Candidates above the cosine pre-filter that the verifier turned down. */
  rejected: number;
  embeddedEntries: number;
}

const DEFAULT_HNSW: HnswOptions = {
  connectivity: 32,
  expansionAdd: 128,
  expansionSearch: 64,
  quantization: 'i8',
};

export class SemanticCache {
  private readonly embedder: Embedder;
  private readonly verifier: Verifier;
  private readonly candidates: number;
  private readonly maxEntries: number;
  private readonly exactScanMax: number;
  private readonly hnsw: HnswOptions;
  private readonly maxTextChars: number;
  private readonly now: () => number;
  readonly dir: string | undefined;
  private readonly partitions = new Map<string, Partition>();
  /** Map order is age order (oldest first); a hit moves an entry to the end. */
  private readonly entries = new Map<number, Entry>();
  private readonly byKey = new Map<string, Entry>();
  private nextId = 1;
  private readonly counters = { lookups: 0, hits: 0, rejected: 0, embeddedEntries: 0 };

  constructor(options: SemanticCacheOptions) {
    this.embedder = options.embedder;
    this.verifier = options.verifier;
    this.candidates = options.candidates ?? 4;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.exactScanMax = options.exactScanMax ?? 1024;
    this.hnsw = { ...DEFAULT_HNSW, ...options.hnsw };
    this.maxTextChars = options.maxTextChars ?? 2000;
    this.now = options.now ?? Date.now;
    this.dir = options.dir;
    if (!(this.candidates >= 1)) throw new TypeError('semantic cache: candidates must be >= 1');
    if (!(this.maxEntries >= 1)) throw new TypeError('semantic cache: maxEntries must be >= 1');
    if (this.verifier.model.embedderId !== this.embedder.id) {
      throw new TypeError(
        `semantic cache: verifier is for ${this.verifier.model.embedderId}, embedder is ${this.embedder.id}`,
      );
    }
  }

  /** Creates a cache and rebuilds its entries from `options.dir` when a saved state exists. */
  static async open(options: SemanticCacheOptions): Promise<SemanticCache> {
    const cache = new SemanticCache(options);
    if (options.dir) await cache.load(options.dir);
    return cache;
  }

  async lookup(partition: string, text: string): Promise<LookupResult> {
    this.counters.lookups++;
    const { candidates, nearest } = await this.examine(partition, text);
    let best: Candidate | undefined;
    for (const candidate of candidates) {
      if (candidate.score < this.verifier.model.threshold || candidate.veto) {
        this.counters.rejected++;
        continue;
      }
      if (!best || candidate.score > best.score) best = candidate;
    }
    const entry = best && this.byKey.get(best.entryKey);
    if (!best || !entry) return nearest ? { hit: false, bestSimilarity: nearest.similarity } : { hit: false };
    this.counters.hits++;
    // Renew the entry's place in the eviction order.
    this.entries.delete(entry.id);
    this.entries.set(entry.id, entry);
    return { hit: true, entryKey: best.entryKey, similarity: best.similarity, score: best.score };
  }

  /**
   * The verifier's view of a lookup without deciding it: every live neighbour above the
   * cosine pre-filter with its score and veto. For evaluation curves and debugging.
   */
  async examine(partition: string, text: string): Promise<Examination> {
    const query = text.slice(0, this.maxTextChars);
    // An empty partition needs no embedding at all.
    if (!this.partitions.get(partition)) return { candidates: [] };
    const vector = await this.embedWithPending(partition, query);
    const part = this.partitions.get(partition);
    if (!part || !vector) return { candidates: [] };

    const now = this.now();
    const neighbours = part.index.search(vector, this.candidates);
    let queryProfile: TextProfile | undefined;
    const candidates: Candidate[] = [];
    for (const { id, similarity } of neighbours) {
      const entry = this.entries.get(id);
      if (!entry) continue;
      if (entry.expiresAt <= now) {
        this.removeEntry(entry);
        continue;
      }
      // Neighbours come best first: below the pre-filter nothing else can pass.
      if (similarity < this.verifier.model.minCosine) break;
      queryProfile ??= profileText(query);
      entry.profile ??= profileText(entry.text);
      // Threshold 0: every candidate gets its score; the caller applies the threshold.
      const verdict = this.verifier.judge(similarity, entry.profile, queryProfile, 0);
      candidates.push({ entryKey: entry.entryKey, similarity, score: verdict.score, veto: verdict.veto });
    }
    const top = neighbours[0] && this.entries.get(neighbours[0].id);
    return {
      candidates,
      nearest: top ? { entryKey: top.entryKey, similarity: neighbours[0].similarity } : undefined,
    };
  }

  /**
   * Records that `text` in `partition` is answered by the response stored under `entryKey`
   * (the exact-cache key). `ttlSeconds` <= 0 means no expiry. Re-inserting an entryKey
   * replaces its entry.
   */
  async insert(partition: string, text: string, entryKey: string, ttlSeconds: number): Promise<void> {
    const expiresAt = ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY;
    this.addEntry(partition, text.slice(0, this.maxTextChars), entryKey, expiresAt, undefined);
  }

  /** Removes the entry for an exact-cache key (e.g. its stored response is gone). */
  delete(entryKey: string): boolean {
    const entry = this.byKey.get(entryKey);
    if (!entry) return false;
    this.removeEntry(entry);
    return true;
  }

  /** Removes every entry of a partition; returns how many went. */
  purgePartition(partition: string): number {
    const part = this.partitions.get(partition);
    if (!part) return 0;
    const ids = [...part.index.ids(), ...part.pending.map((e) => e.id)];
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry) this.removeEntry(entry);
    }
    return ids.length;
  }

  /** Drops expired entries, a slice per event-loop turn; returns how many went. */
  async sweepExpired(slice = 10_000): Promise<number> {
    const now = this.now();
    let removed = 0;
    let seen = 0;
    for (const entry of [...this.entries.values()]) {
      if (entry.expiresAt <= now && this.entries.has(entry.id)) {
        this.removeEntry(entry);
        removed++;
      }
      if (++seen % slice === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return removed;
  }

  size(): number {
    return this.entries.size;
  }

  stats(): SemanticCacheStats {
    return { entries: this.entries.size, partitions: this.partitions.size, ...this.counters };
  }

  /** True when the partition's lookups go through its HNSW graph (not an exact scan). */
  usesGraph(partition: string): boolean {
    return this.partitions.get(partition)?.index.usesGraph ?? false;
  }

  /** Embeds every entry still waiting for its vector (evaluation, benchmarks, before a save). */
  async flushPending(): Promise<void> {
    for (const [partition, part] of this.partitions) {
      while (part.pending.length > 0) await this.embedInto(partition, part, [], part.pending.splice(0, 256));
    }
  }

  /** Resolves when no partition is building a graph (tests, benchmarks). */
  async settled(): Promise<void> {
    for (const part of this.partitions.values()) await part.index.settled();
  }

  /** Writes every live entry (text, key, expiry, vector when embedded) to `dir`. */
  async save(dir = this.dir): Promise<void> {
    if (!dir) return;
    const now = this.now();
    const live = [...this.entries.values()].filter((e) => e.expiresAt > now);
    await saveEntries(dir, { embedderId: this.embedder.id, dims: this.embedder.dims }, live, (entry) =>
      this.partitions.get(entry.partition)?.index.vector(entry.id),
    );
  }

  /** Saves (when a directory is set) and releases the indexes. The embedder is the caller's to close. */
  async close(): Promise<void> {
    await this.save();
    for (const part of this.partitions.values()) part.index.close();
    this.partitions.clear();
    this.entries.clear();
    this.byKey.clear();
  }

  private async load(dir: string): Promise<void> {
    const now = this.now();
    await loadEntries(
      dir,
      { embedderId: this.embedder.id, dims: this.embedder.dims },
      (saved: SavedEntry) => {
        if (saved.expiresAt <= now) return;
        this.addEntry(saved.partition, saved.text, saved.entryKey, saved.expiresAt, saved.vector);
      },
    );
  }

  private addEntry(
    partition: string,
    text: string,
    entryKey: string,
    expiresAt: number,
    vector: Float32Array | undefined,
  ): void {
    const previous = this.byKey.get(entryKey);
    if (previous) this.removeEntry(previous);
    const entry: Entry = { id: this.nextId++, partition, text, entryKey, expiresAt };
    let part = this.partitions.get(partition);
    if (!part) {
      part = {
        index: new PartitionIndex({
          dims: this.embedder.dims,
          exactScanMax: this.exactScanMax,
          hnsw: this.hnsw,
        }),
        pending: [],
      };
      this.partitions.set(partition, part);
    }
    if (vector) part.index.add(entry.id, vector);
    else {
      part.pending.push(entry);
      // A busy partition should not make one lookup embed hundreds of texts.
      if (part.pending.length > PENDING_PER_LOOKUP) this.drainPending(partition, part);
    }
    this.entries.set(entry.id, entry);
    this.byKey.set(entryKey, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.values().next().value!;
      this.removeEntry(oldest);
    }
  }

  private removeEntry(entry: Entry): void {
    if (!this.entries.delete(entry.id)) return;
    if (this.byKey.get(entry.entryKey) === entry) this.byKey.delete(entry.entryKey);
    const part = this.partitions.get(entry.partition);
    if (!part) return;
    if (!part.index.remove(entry.id)) {
      const at = part.pending.indexOf(entry);
      if (at >= 0) part.pending.splice(at, 1);
    }
    if (part.index.size === 0 && part.pending.length === 0) {
      part.index.close();
      this.partitions.delete(entry.partition);
    }
  }

  /**
   * Embeds the query together with the partition's not-yet-embedded entries (one batch), then
   * adds those to the index. Returns the query's vector.
   */
  private async embedWithPending(partition: string, query: string): Promise<Float32Array | undefined> {
    const part = this.partitions.get(partition);
    const pending = part ? part.pending.splice(0, PENDING_PER_LOOKUP) : [];
    if (part && part.pending.length > 0) this.drainPending(partition, part);
    const vectors = await this.embedInto(partition, part, [query], pending);
    return vectors[0];
  }

  /** Embeds a partition's pending entries in the background, a batch at a time. */
  private drainPending(partition: string, part: Partition): void {
    if (part.draining) return;
    part.draining = true;
    const run = async () => {
      try {
        while (part.pending.length > 0 && this.partitions.get(partition) === part) {
          await this.embedInto(partition, part, [], part.pending.splice(0, 64));
        }
      } finally {
        part.draining = false;
      }
    };
    // A failed background batch is retried by the next lookup (entries went back to pending).
    run().catch(() => {});
  }

  /** Embeds `texts` plus `pending` entries in one call, indexes the entries, returns the texts' vectors. */
  private async embedInto(
    partition: string,
    part: Partition | undefined,
    texts: string[],
    pending: Entry[],
  ): Promise<Float32Array[]> {
    let vectors: Float32Array[];
    try {
      vectors = await this.embedder.embed([...texts, ...pending.map((e) => e.text)]);
    } catch (error) {
      // Put them back so a later lookup retries; the failed lookup is a miss upstream.
      if (part) part.pending.unshift(...pending.filter((e) => this.entries.has(e.id)));
      throw error;
    }
    pending.forEach((entry, i) => {
      // Skip entries removed (expired, purged, evicted) while the embedder ran.
      if (this.entries.get(entry.id) !== entry) return;
      const current = this.partitions.get(partition);
      if (!current) return;
      current.index.add(entry.id, vectors[texts.length + i]);
      this.counters.embeddedEntries++;
    });
    return vectors.slice(0, texts.length);
  }
}
