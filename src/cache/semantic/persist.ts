/**
 * Saving and loading the semantic cache's entries. Three files in one directory:
 * `manifest.json` (format, embedder, counts), `entries.jsonl` (one entry per line, in order)
 * and `vectors.f32` (the embedded entries' vectors, in the same order, raw little-endian f32).
 * Files are written under temporary names and renamed, so a crash mid-save leaves the previous
 * state intact. The HNSW graphs are not saved: they are rebuilt from the vectors on start.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const FORMAT = 1;

export interface SavedEntry {
  partition: string;
  text: string;
  entryKey: string;
  /** Epoch ms; Infinity = no expiry. */
  expiresAt: number;
  /** Absent for an entry that was never embedded. */
  vector?: Float32Array;
}

interface Manifest {
  format: number;
  embedderId: string;
  dims: number;
  entries: number;
  vectors: number;
  savedAt: string;
}

interface Line {
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

export async function saveEntries<E extends Omit<SavedEntry, 'vector'>>(
  dir: string,
  identity: EmbedderIdentity,
  entries: Iterable<E>,
  vectorOf: (entry: E) => Float32Array | undefined,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const suffix = `.tmp-${process.pid}`;
  const lines = createWriteStream(join(dir, `entries.jsonl${suffix}`));
  const vectors = createWriteStream(join(dir, `vectors.f32${suffix}`));
  let entryCount = 0;
  let vectorCount = 0;
  let lineChunk: string[] = [];
  let vectorChunk: Buffer[] = [];
  const flush = async () => {
    const okLines = lines.write(lineChunk.join(''));
    const okVectors = vectorChunk.length > 0 ? vectors.write(Buffer.concat(vectorChunk)) : true;
    lineChunk = [];
    vectorChunk = [];
    if (!okLines) await once(lines, 'drain');
    if (!okVectors) await once(vectors, 'drain');
  };
  for (const entry of entries) {
    const vector = vectorOf(entry);
    if (vector && vector.length !== identity.dims)
      throw new Error('semantic cache: vector of the wrong size');
    const line: Line = {
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
  };
  await writeFile(join(dir, `manifest.json${suffix}`), JSON.stringify(manifest, null, 2));
  // The manifest goes last: a reader that finds it finds the files it describes.
  await rename(join(dir, `entries.jsonl${suffix}`), join(dir, 'entries.jsonl'));
  await rename(join(dir, `vectors.f32${suffix}`), join(dir, 'vectors.f32'));
  await rename(join(dir, `manifest.json${suffix}`), join(dir, 'manifest.json'));
}

/**
 * Streams saved entries to `onEntry`. Returns false (and reads nothing) when there is no saved
 * state, or when it was written for another embedder: its vectors would not be comparable.
 */
export async function loadEntries(
  dir: string,
  identity: EmbedderIdentity,
  onEntry: (entry: SavedEntry) => void,
): Promise<boolean> {
  const manifestFile = join(dir, 'manifest.json');
  if (!existsSync(manifestFile)) return false;
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
  if (
    manifest.format !== FORMAT ||
    manifest.embedderId !== identity.embedderId ||
    manifest.dims !== identity.dims
  ) {
    return false;
  }
  const rowBytes = identity.dims * 4;
  const vectorFile = await open(join(dir, 'vectors.f32'), 'r');
  try {
    const lines = createInterface({
      input: createReadStream(join(dir, 'entries.jsonl')),
      crlfDelay: Infinity,
    });
    const buffer = Buffer.alloc(rowBytes * 1024);
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
        vector = new Float32Array(identity.dims);
        new Uint8Array(vector.buffer).set(buffer.subarray(next * rowBytes, (next + 1) * rowBytes));
        next++;
      }
      onEntry({
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
  return true;
}
