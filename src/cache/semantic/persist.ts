/**
 * Saving and loading the semantic cache's entries. Files in one directory: `manifest.json`
 * (format, embedder, counts, the graphs, the shared-log cursor), `entries.jsonl` (one entry per
 * line, in age order, with its id), `vectors.f32` (the embedded entries' vectors, in the same
 * order, raw little-endian f32) and one `graph-<generation>-<n>.usearch` per partition that
 * had an HNSW graph. Files are written under temporary or fresh names and the manifest is
 * renamed into place last, so a crash mid-save leaves the previous state intact; graph files
 * no manifest names any more are deleted after it.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { SavedGraph } from './partition-index.js';

/** 2 added entry ids, graphs and the cursor; format 1 (no ids, no graphs) still loads. */
const FORMAT = 2;
const GRAPH_FILE = /^graph-[a-z0-9]+-\d+\.usearch$/;

export interface SavedEntry {
  /** The entry's id, which is also its key in a saved graph (absent in format 1). */
  id?: number;
  partition: string;
  text: string;
  entryKey: string;
  /** Epoch ms; Infinity = no expiry. */
  expiresAt: number;
  /**
   * Absent for an entry that was never embedded. When loading, a view valid only during the
   * `onEntry` call (copy it to keep it).
   */
  vector?: Float32Array;
}

interface Manifest {
  format: number;
  embedderId: string;
  dims: number;
  entries: number;
  vectors: number;
  savedAt: string;
  /** Format 2: the next entry id to hand out. */
  nextId?: number;
  /** Format 2: the last shared-log event applied before the save. */
  cursor?: string;
  /** Format 2: each graph file's partition; `file` is relative to the directory. */
  graphs?: Array<SavedGraph & { partition: string }>;
}

interface Line {
  /** Absent in format 1. */
  i?: number;
  p: string;
  t: string;
  k: string;
  /** Expiry in epoch ms, null for none. */
  e: number | null;
  /** 1 when a vector row belongs to this entry. */
  v: 0 | 1;
}

export interface EmbedderIdentity {
  embedderId: string;
  dims: number;
}

/** What goes into the manifest besides the entries. */
export interface SaveExtras {
  nextId: number;
  cursor?: string;
  /**
   * Called once, synchronously, before the entries are written: saves each partition's graph
   * with the given `file` maker and returns them (so the graphs and the entry list are one
   * moment's state).
   */
  saveGraphs?: (fileFor: (n: number) => string) => Array<SavedGraph & { partition: string }>;
}

/** The manifest's extras, as `loadEntries` found them. */
export interface LoadedState {
  nextId: number;
  cursor?: string;
  /** Graph files with absolute paths. */
  graphs: Array<SavedGraph & { partition: string }>;
}

export async function saveEntries<E extends Omit<SavedEntry, 'vector'> & { id: number }>(
  dir: string,
  identity: EmbedderIdentity,
  entries: Iterable<E>,
  vectorOf: (entry: E) => Float32Array | undefined,
  extras: SaveExtras = { nextId: 1 },
): Promise<void> {
  // Synchronous up to the graphs: they and the entry list must be the same moment's state.
  mkdirSync(dir, { recursive: true });
  const suffix = `.tmp-${process.pid}`;
  const generation = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const graphs = (extras.saveGraphs?.((n) => join(dir, `graph-${generation}-${n}.usearch`)) ?? []).map(
    (graph) => ({ ...graph, file: basename(graph.file) }),
  );
  const lines = createWriteStream(join(dir, `entries.jsonl${suffix}`));
  const vectors = createWriteStream(join(dir, `vectors.f32${suffix}`));
  let entryCount = 0;
  let vectorCount = 0;
  let lineChunk: string[] = [];
  let vectorChunk: Buffer[] = [];
  const flush = async () => {
    lines.write(lineChunk.join(''));
    if (vectorChunk.length > 0) vectors.write(Buffer.concat(vectorChunk));
    lineChunk = [];
    vectorChunk = [];
    // Ask each stream afresh: one may drain while we wait for the other, and a 'drain' that
    // already happened never fires again (waiting for it hung the save).
    if (lines.writableNeedDrain) await once(lines, 'drain');
    if (vectors.writableNeedDrain) await once(vectors, 'drain');
  };
  for (const entry of entries) {
    const vector = vectorOf(entry);
    if (vector && vector.length !== identity.dims)
      throw new Error('semantic cache: vector of the wrong size');
    const line: Line = {
      i: entry.id,
      p: entry.partition,
      t: entry.text,
      k: entry.entryKey,
      e: Number.isFinite(entry.expiresAt) ? entry.expiresAt : null,
      v: vector ? 1 : 0,
    };
    lineChunk.push(`${JSON.stringify(line)}\n`);
    // Copy the bytes now: the slab behind the view may change while the stream drains.
    if (vector)
      vectorChunk.push(Buffer.from(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)));
    entryCount++;
    if (vector) vectorCount++;
    if (lineChunk.length >= 1024) await flush();
  }
  await flush();
  lines.end();
  vectors.end();
  await Promise.all([once(lines, 'close'), once(vectors, 'close')]);
  const manifest: Manifest = {
    format: FORMAT,
    embedderId: identity.embedderId,
    dims: identity.dims,
    entries: entryCount,
    vectors: vectorCount,
    savedAt: new Date().toISOString(),
    nextId: extras.nextId,
    cursor: extras.cursor,
    graphs,
  };
  await writeFile(join(dir, `manifest.json${suffix}`), JSON.stringify(manifest, null, 2));
  // The manifest goes last: a reader that finds it finds the files it describes.
  await rename(join(dir, `entries.jsonl${suffix}`), join(dir, 'entries.jsonl'));
  await rename(join(dir, `vectors.f32${suffix}`), join(dir, 'vectors.f32'));
  await rename(join(dir, `manifest.json${suffix}`), join(dir, 'manifest.json'));
  const kept = new Set(graphs.map((g) => g.file));
  for (const name of await readdir(dir)) {
    if (GRAPH_FILE.test(name) && !kept.has(name)) await unlink(join(dir, name)).catch(() => {});
  }
}

/**
 * Streams saved entries to `onEntry`, then returns the manifest's extras. Returns undefined
 * (and reads nothing) when there is no saved state, or when it was written for another
 * embedder: its vectors would not be comparable.
 */
export async function loadEntries(
  dir: string,
  identity: EmbedderIdentity,
  onEntry: (entry: SavedEntry) => void,
): Promise<LoadedState | undefined> {
  const manifestFile = join(dir, 'manifest.json');
  if (!existsSync(manifestFile)) return undefined;
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
  if (
    (manifest.format !== FORMAT && manifest.format !== 1) ||
    manifest.embedderId !== identity.embedderId ||
    manifest.dims !== identity.dims
  ) {
    return undefined;
  }
  const rowBytes = identity.dims * 4;
  const vectorFile = await open(join(dir, 'vectors.f32'), 'r');
  try {
    const lines = createInterface({
      input: createReadStream(join(dir, 'entries.jsonl')),
      crlfDelay: Infinity,
    });
    const rows = new Float32Array(identity.dims * 1024);
    const buffer = Buffer.from(rows.buffer);
    let buffered = 0;
    let next = 0;
    let position = 0;
    for await (const raw of lines) {
      if (!raw) continue;
      const line = JSON.parse(raw) as Line;
      let vector: Float32Array | undefined;
      if (line.v === 1) {
        if (next === buffered) {
          const { bytesRead } = await vectorFile.read(buffer, 0, buffer.length, position);
          position += bytesRead;
          buffered = Math.floor(bytesRead / rowBytes);
          next = 0;
          if (buffered === 0) throw new Error('semantic cache: vectors.f32 is shorter than entries.jsonl');
        }
        vector = rows.subarray(next * identity.dims, (next + 1) * identity.dims);
        next++;
      }
      onEntry({
        id: line.i,
        partition: line.p,
        text: line.t,
        entryKey: line.k,
        expiresAt: line.e ?? Number.POSITIVE_INFINITY,
        vector,
      });
    }
  } finally {
    await vectorFile.close();
  }
  return {
    nextId: manifest.nextId ?? 1,
    cursor: manifest.cursor,
    graphs: (manifest.graphs ?? []).map((graph) => ({ ...graph, file: join(dir, graph.file) })),
  };
}
