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
 *   entry's place), and are saved to / restored from a directory, HNSW graphs included.
 * - Several instances can share their entries: every local insert, vector and delete goes to
 *   `onChange` (the shared log publishes it), and `apply` takes in other instances' changes.
 */
import type { Embedder } from '../../embed/types.js';
import type { SemanticChange } from './change.js';
import { profileText, type TextProfile } from './lexical.js';
import { type HnswOptions, PartitionIndex, type SavedGraph } from './partition-index.js';
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
  /** Told every local change (not those `apply` takes in), for other instances. */
  onChange?: (change: SemanticChange) => void;
}

/** How the last start restored the saved state (stats, benchmarks). */
export interface RestoreReport {
  entries: number;
  /** Partitions whose saved HNSW graph was loaded as is. */
  graphsLoaded: number;
  /** Partitions large enough for a graph that must build theirs (none saved, or stale). */
  graphsRebuilt: number;
  ms: number;
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
  /** Changes taken in from other instances. */
  applied: number;
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
  private readonly counters = { lookups: 0, hits: 0, rejected: 0, embeddedEntries: 0, applied: 0 };
  private readonly onChange: ((change: SemanticChange) => void) | undefined;
  /**
   * The shared log's id of the last change applied (the log sets it); saved with the entries so
   * a restart replays the log from there.
   */
  cursor: string | undefined;
  /** Set by `open` when a saved state was found. */
  restored: RestoreReport | undefined;
  private saving: Promise<void> = Promise.resolve();

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
    this.onChange = options.onChange;
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
    const cut = text.slice(0, this.maxTextChars);
    const searched = this.partitions.has(partition);
    const entry = this.addEntry(partition, cut, entryKey, expiresAt, undefined);
    if (!this.onChange) return;
    // Shared: in a partition that was just searched the text was just embedded (the embedder's
    // cache has it), so embed now and send the vector along; other instances need not embed it.
    const part = this.partitions.get(partition);
    if (searched && part?.pending.includes(entry)) {
      part.pending.splice(part.pending.indexOf(entry), 1);
      await this.embedInto(partition, part, [], [entry], false).catch(() => {});
    }
    if (this.entries.get(entry.id) !== entry) return;
    this.onChange({
      op: 'add',
      partition,
      text: cut,
      entryKey,
      expiresAt,
      vector: this.partitions.get(partition)?.index.vector(entry.id),
    });
  }

  /** Removes the entry for an exact-cache key (e.g. its stored response is gone). */
  delete(entryKey: string): boolean {
    const entry = this.byKey.get(entryKey);
    if (!entry) return false;
    this.removeEntry(entry);
    this.onChange?.({ op: 'delete', entryKey });
    return true;
  }

  /** Removes every entry of a partition; returns how many went. */
  purgePartition(partition: string): number {
    const removed = this.dropPartition(partition);
    if (removed > 0) this.onChange?.({ op: 'purge', partition });
    return removed;
  }

  /**
   * Takes in another instance's change. An entry already here under the same key, partition
   * and text is kept (a replayed or concurrent insert of the same answer): it only gains the
   * vector and the later expiry. A vector of the wrong length is ignored.
   */
  apply(change: SemanticChange): void {
    this.counters.applied++;
    const dims = this.embedder.dims;
    switch (change.op) {
      case 'add': {
        const vector = change.vector?.length === dims ? change.vector : undefined;
        const known = this.byKey.get(change.entryKey);
        if (known && known.partition === change.partition && known.text === change.text) {
          known.expiresAt = Math.max(known.expiresAt, change.expiresAt);
          if (vector) this.attachVector(known, vector);
          return;
        }
        if (change.expiresAt <= this.now()) return;
        this.addEntry(change.partition, change.text, change.entryKey, change.expiresAt, vector);
        return;
      }
      case 'vector': {
        const known = this.byKey.get(change.entryKey);
        if (known && known.partition === change.partition && change.vector.length === dims)
          this.attachVector(known, change.vector);
        return;
      }
      case 'delete': {
        const known = this.byKey.get(change.entryKey);
        if (known) this.removeEntry(known);
        return;
      }
      case 'purge':
        this.dropPartition(change.partition);
        return;
    }
  }

  private dropPartition(partition: string): number {
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
    // One save at a time: a periodic save and the one at close must not share temporary files.
    const run = this.saving.then(() => this.saveNow(dir));
    this.saving = run.catch(() => {});
    await run;
  }

  private async saveNow(dir: string): Promise<void> {
    const now = this.now();
    const live = [...this.entries.values()].filter((e) => e.expiresAt > now);
    await saveEntries(
      dir,
      { embedderId: this.embedder.id, dims: this.embedder.dims },
      live,
      (entry) => this.partitions.get(entry.partition)?.index.vector(entry.id),
      {
        nextId: this.nextId,
        cursor: this.cursor,
        saveGraphs: (fileFor) => {
          const graphs: Array<SavedGraph & { partition: string }> = [];
          for (const [partition, part] of this.partitions) {
            const graph = part.index.saveGraph(fileFor(graphs.length));
            if (graph) graphs.push({ ...graph, partition });
          }
          return graphs;
        },
      },
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

  /**
   * Restores a saved state: entries in their age order under their saved ids, each partition's
   * vectors in one piece, and its saved graph when it still matches (else it is rebuilt in
   * the background). Entries that expired meanwhile are tombstones of the loaded graph.
   */
  private async load(dir: string): Promise<void> {
    const started = performance.now();
    const now = this.now();
    const dims = this.embedder.dims;
    const rows = new Map<string, RowCollector>();
    let maxId = 0;
    const state = await loadEntries(dir, { embedderId: this.embedder.id, dims }, (saved: SavedEntry) => {
      const id = saved.id ?? this.nextId++;
      maxId = Math.max(maxId, id);
      let collector = rows.get(saved.partition);
      if (!collector) {
        collector = new RowCollector(dims);
        rows.set(saved.partition, collector);
      }
      if (saved.expiresAt <= now || this.byKey.has(saved.entryKey)) {
        if (saved.vector) collector.dead.push(id);
        return;
      }
      const entry: Entry = {
        id,
        partition: saved.partition,
        text: saved.text,
        entryKey: saved.entryKey,
        expiresAt: saved.expiresAt,
      };
      const part = this.partitionFor(saved.partition);
      if (saved.vector) collector.push(id, saved.vector);
      else part.pending.push(entry);
      this.entries.set(id, entry);
      this.byKey.set(entry.entryKey, entry);
    });
    if (!state) return;
    this.nextId = Math.max(this.nextId, state.nextId, maxId + 1);
    this.cursor = state.cursor;
    const graphs = new Map(state.graphs.map((graph) => [graph.partition, graph]));
    const report: RestoreReport = { entries: this.entries.size, graphsLoaded: 0, graphsRebuilt: 0, ms: 0 };
    for (const [partition, collector] of rows) {
      const part = this.partitions.get(partition);
      if (!part) continue;
      const saved = graphs.get(partition);
      const graph = saved && { ...saved, tombstones: [...saved.tombstones, ...collector.dead] };
      if (part.index.restore(collector.ids, collector.vectors(), graph)) report.graphsLoaded++;
      else if (collector.ids.length > this.exactScanMax) report.graphsRebuilt++;
      if (part.index.size === 0 && part.pending.length === 0) {
        part.index.close();
        this.partitions.delete(partition);
      }
    }
    while (this.entries.size > this.maxEntries) this.removeEntry(this.entries.values().next().value!);
    report.ms = performance.now() - started;
    this.restored = report;
  }

  /** Gives a pending entry its vector (from another instance): no embedding needed. */
  private attachVector(entry: Entry, vector: Float32Array): void {
    const part = this.partitions.get(entry.partition);
    if (!part || part.index.has(entry.id)) return;
    const at = part.pending.indexOf(entry);
    if (at < 0) return;
    part.pending.splice(at, 1);
    part.index.add(entry.id, vector);
  }

  private partitionFor(partition: string): Partition {
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
    return part;
  }

  private addEntry(
    partition: string,
    text: string,
    entryKey: string,
    expiresAt: number,
    vector: Float32Array | undefined,
  ): Entry {
    const previous = this.byKey.get(entryKey);
    if (previous) this.removeEntry(previous);
    const entry: Entry = { id: this.nextId++, partition, text, entryKey, expiresAt };
    const part = this.partitionFor(partition);
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
    return entry;
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
    announce = true,
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
      if (announce)
        this.onChange?.({
          op: 'vector',
          partition,
          entryKey: entry.entryKey,
          vector: vectors[texts.length + i],
        });
    });
    return vectors.slice(0, texts.length);
  }
}

/** One partition's saved rows while loading: ids and vectors in one growing array. */
class RowCollector {
  readonly ids: number[] = [];
  /** Ids in the saved graph whose entries did not come back (expired, duplicate key). */
  readonly dead: number[] = [];
  private data: Float32Array;

  constructor(private readonly dims: number) {
    this.data = new Float32Array(64 * dims);
  }

  push(id: number, vector: Float32Array): void {
    const at = this.ids.length * this.dims;
    if (at + this.dims > this.data.length) {
      const grown = new Float32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data.set(vector, at);
    this.ids.push(id);
  }

  vectors(): Float32Array {
    return this.data.subarray(0, this.ids.length * this.dims);
  }
}
