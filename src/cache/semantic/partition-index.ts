/**
 * Nearest-neighbour search over the vectors of one partition. Vectors live in a compact slab
 * (the source of truth, f32). A partition scans the slab exactly while it is small; past
 * `exactScanMax` live entries it builds a usearch HNSW graph (quantised, by default to int8)
 * and answers from the graph, re-ranking the candidates with exact f32 cosines — lookup cost
 * grows with log n instead of n.
 *
 * usearch 2.25's `remove` can spin forever after churn, so the graph is append-only here:
 * removed entries become tombstones that searches skip, and the graph is rebuilt from the slab
 * (in slices, off the hot path) once tombstones pile up.
 *
 * A partition's graph can be saved next to its vectors and restored at start (`saveGraph`,
 * `restore`): loading a saved graph takes a fraction of a second where rebuilding a large one
 * takes minutes, during which that partition answers nothing.
 */
import { Index, MetricKind, type ScalarKind } from 'usearch';

export type Quantization = 'f32' | 'f16' | 'i8';

export interface HnswOptions {
  /** Graph degree (M). */
  connectivity: number;
  /** Candidate list size while inserting (efConstruction). */
  expansionAdd: number;
  /** Candidate list size while searching (ef). */
  expansionSearch: number;
  /** Storage of the graph's own vector copies; results are re-ranked with f32 anyway. */
  quantization: Quantization;
}

export interface PartitionIndexOptions {
  dims: number;
  /** Up to this many live entries, search is an exact scan. */
  exactScanMax: number;
  hnsw: HnswOptions;
  /** Vectors added to the graph per event-loop turn while (re)building. */
  buildSlice?: number;
}

/** What `saveGraph` wrote: the file and the ids in it whose entries are gone. */
export interface SavedGraph {
  file: string;
  /** Keys in the graph: the live entries' ids plus `tombstones`. */
  size: number;
  tombstones: number[];
}

export interface Neighbour {
  id: number;
  similarity: number;
}

const FREE = -1;

export class PartitionIndex {
  private slab: Float32Array;
  /** Entry id stored in each slab row, or FREE (f64: ids may pass 2^31 over a long run). */
  private rowIds: Float64Array;
  private readonly rowOf = new Map<number, number>();
  private freeRows: number[] = [];
  private usedRows = 0;
  private graph: Index | undefined;
  /** Ids still in the graph whose entries are gone. */
  private tombstones = new Set<number>();
  private building: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: PartitionIndexOptions) {
    this.slab = new Float32Array(16 * options.dims);
    this.rowIds = new Float64Array(16).fill(FREE);
  }

  get size(): number {
    return this.rowOf.size;
  }

  /** True once lookups go through the HNSW graph instead of a scan. */
  get usesGraph(): boolean {
    return this.graph !== undefined;
  }

  has(id: number): boolean {
    return this.rowOf.has(id);
  }

  /** The stored (normalised) vector of an entry: a view, valid until the next add/remove. */
  vector(id: number): Float32Array | undefined {
    const row = this.rowOf.get(id);
    if (row === undefined) return undefined;
    const d = this.options.dims;
    return this.slab.subarray(row * d, (row + 1) * d);
  }

  ids(): IterableIterator<number> {
    return this.rowOf.keys();
  }

  /** Adds a vector under an id that must not be in use (ids are never reused). */
  add(id: number, vector: Float32Array): void {
    const d = this.options.dims;
    if (vector.length !== d) throw new Error(`vector has ${vector.length} dimensions, index has ${d}`);
    if (this.rowOf.has(id)) throw new Error(`id ${id} is already in the index`);
    const row = this.freeRows.pop() ?? this.usedRows++;
    this.ensureRows(row + 1);
    this.slab.set(vector, row * d);
    this.rowIds[row] = id;
    this.rowOf.set(id, row);
    // The serving graph gets it now; a rebuild in progress picks it up from the slab itself.
    if (this.graph) this.graph.add(BigInt(id), this.slab.slice(row * d, (row + 1) * d));
    if (!this.graph && !this.building && this.rowOf.size > this.options.exactScanMax) this.startBuild();
  }

  remove(id: number): boolean {
    const row = this.rowOf.get(id);
    if (row === undefined) return false;
    this.rowOf.delete(id);
    this.rowIds[row] = FREE;
    this.freeRows.push(row);
    if (this.graph) {
      this.tombstones.add(id);
      const live = this.rowOf.size;
      if (!this.building && this.tombstones.size > 64 && this.tombstones.size > live / 4) this.startBuild();
    }
    return true;
  }

  /**
   * Fills an empty index with saved rows (`vectors` holds `ids.length` rows back to back) and,
   * when `graph` is given, loads that graph instead of building one. The graph is used only if
   * it holds exactly the given ids plus `graph.tombstones` (its size says so); otherwise, or
   * when it cannot be read, the graph is rebuilt in the background as after any start.
   * Returns whether the saved graph was used.
   */
  restore(ids: ArrayLike<number>, vectors: Float32Array, graph?: SavedGraph): boolean {
    const d = this.options.dims;
    if (this.rowOf.size > 0 || this.usedRows > 0) throw new Error('restore needs an empty index');
    if (vectors.length !== ids.length * d) throw new Error('restore: vectors do not match ids');
    this.ensureRows(ids.length);
    this.slab.set(vectors);
    for (let row = 0; row < ids.length; row++) {
      if (this.rowOf.has(ids[row])) throw new Error(`id ${ids[row]} is already in the index`);
      this.rowIds[row] = ids[row];
      this.rowOf.set(ids[row], row);
    }
    this.usedRows = ids.length;
    if (graph && graph.size === ids.length + graph.tombstones.length) {
      try {
        const loaded = this.newGraph();
        loaded.load(graph.file);
        if (loaded.size() === graph.size && loaded.dimensions() === d) {
          this.graph = loaded;
          this.tombstones = new Set(graph.tombstones);
          return true;
        }
      } catch {
        // Unreadable or from another build of usearch: rebuild below.
      }
    }
    if (this.rowOf.size > this.options.exactScanMax) this.startBuild();
    return false;
  }

  /**
   * Writes the serving graph to `file` (synchronously: usearch serialises in one call) and
   * returns what `restore` needs to trust it; undefined when the partition has no graph yet.
   */
  saveGraph(file: string): SavedGraph | undefined {
    if (!this.graph) return undefined;
    this.graph.save(file);
    return { file, size: this.graph.size(), tombstones: [...this.tombstones] };
  }

  /**
   * The `k` nearest live entries by cosine, best first. While the first graph of a large
   * partition is still being built (e.g. right after start), it answers nothing rather than
   * scanning hundreds of thousands of rows per lookup: a semantic miss is always safe.
   */
  search(query: Float32Array, k: number): Neighbour[] {
    if (this.rowOf.size === 0 || k <= 0) return [];
    if (this.graph) return this.searchGraph(this.graph, query, k);
    if (this.rowOf.size > 4 * this.options.exactScanMax) return [];
    return this.scan(query, k);
  }

  /** Exact search, whatever the mode; the reference for recall measurements. */
  scan(query: Float32Array, k: number): Neighbour[] {
    const d = this.options.dims;
    const best: Neighbour[] = [];
    const slab = this.slab;
    for (let row = 0; row < this.usedRows; row++) {
      const id = this.rowIds[row];
      if (id === FREE) continue;
      let s = 0;
      const off = row * d;
      for (let j = 0; j < d; j++) s += slab[off + j] * query[j];
      if (best.length < k || s > best[best.length - 1].similarity)
        insertSorted(best, { id, similarity: s }, k);
    }
    return best;
  }

  /** Resolves when no graph build is running (tests, benchmarks, shutdown). */
  async settled(): Promise<void> {
    while (this.building) await this.building;
  }

  close(): void {
    this.closed = true;
    this.graph = undefined;
  }

  /** Approximate bytes held: slab rows plus the graph's vectors and links. */
  memoryBytes(): number {
    const d = this.options.dims;
    let bytes = this.slab.byteLength + this.rowIds.byteLength + this.rowOf.size * 40;
    if (this.graph) {
      const perVector = { f32: 4, f16: 2, i8: 1 }[this.options.hnsw.quantization] * d;
      bytes += this.graph.size() * (perVector + this.options.hnsw.connectivity * 2 * 4 + 16);
    }
    return bytes;
  }

  private searchGraph(graph: Index, query: Float32Array, k: number): Neighbour[] {
    // Ask for extra candidates: some may be tombstones, and quantised distances are re-ranked.
    let want = Math.max(2 * k, k + 8) + Math.min(this.tombstones.size, 4 * k);
    for (;;) {
      const found = graph.search(query, want, 1);
      const best: Neighbour[] = [];
      for (let i = 0; i < found.keys.length; i++) {
        const id = Number(found.keys[i]);
        const row = this.rowOf.get(id);
        if (row === undefined) continue;
        const d = this.options.dims;
        let s = 0;
        for (let j = 0, off = row * d; j < d; j++) s += this.slab[off + j] * query[j];
        insertSorted(best, { id, similarity: s }, k);
      }
      // Too many tombstones among the results: widen once, then accept what there is.
      if (best.length >= Math.min(k, this.rowOf.size) || found.keys.length < want || want >= 8 * k + 64) {
        return best;
      }
      want *= 4;
    }
  }

  /**
   * Builds a fresh graph from the live rows, a slice per event-loop turn so lookups keep
   * flowing; until it is ready, searches use the old graph (or the exact scan).
   */
  private startBuild(): void {
    this.building = this.build().finally(() => {
      this.building = undefined;
    });
    this.building.catch(() => {});
  }

  private async build(): Promise<void> {
    const { dims: d, buildSlice = 1024 } = this.options;
    const graph = this.newGraph();
    const inGraph = new Set<number>();
    for (;;) {
      // Pick up every live row not yet in the new graph (including rows added meanwhile).
      const pending: number[] = [];
      for (const [id, row] of this.rowOf) if (!inGraph.has(id)) pending.push(id, row);
      if (pending.length === 0) break;
      for (let start = 0; start < pending.length; start += 2 * buildSlice) {
        if (this.closed) return;
        const count = Math.min(buildSlice, (pending.length - start) / 2);
        const keys = new BigUint64Array(count);
        const vectors = new Float32Array(count * d);
        let n = 0;
        for (let i = 0; i < count; i++) {
          const id = pending[start + 2 * i];
          const row = this.rowOf.get(id);
          if (row === undefined) continue; // removed while we were building
          keys[n] = BigInt(id);
          vectors.set(this.slab.subarray(row * d, (row + 1) * d), n * d);
          inGraph.add(id);
          n++;
        }
        if (n > 0) graph.add(keys.subarray(0, n), vectors.subarray(0, n * d), 0);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    if (this.closed) return;
    // Ids that went away during the build are tombstones of the new graph.
    const tombstones = new Set<number>();
    for (const id of inGraph) if (!this.rowOf.has(id)) tombstones.add(id);
    this.graph = graph;
    this.tombstones = tombstones;
  }

  private newGraph(): Index {
    const { dims, hnsw } = this.options;
    return new Index({
      dimensions: dims,
      metric: MetricKind.Cos,
      quantization: hnsw.quantization as ScalarKind,
      connectivity: hnsw.connectivity,
      expansion_add: hnsw.expansionAdd,
      expansion_search: hnsw.expansionSearch,
      multi: false,
    });
  }

  private ensureRows(rows: number): void {
    if (rows <= this.rowIds.length) return;
    const capacity = Math.max(rows, this.rowIds.length * 2);
    const slab = new Float32Array(capacity * this.options.dims);
    slab.set(this.slab);
    this.slab = slab;
    const rowIds = new Float64Array(capacity).fill(FREE);
    rowIds.set(this.rowIds);
    this.rowIds = rowIds;
  }
}

/** Inserts into a list sorted by similarity (descending), keeping at most `k`. */
function insertSorted(list: Neighbour[], item: Neighbour, k: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1].similarity < item.similarity) i--;
  if (i >= k) return;
  list.splice(i, 0, item);
  if (list.length > k) list.pop();
}
