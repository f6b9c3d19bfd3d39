/**
 * A disk cache of embeddings for offline evaluation: re-running the evaluation on the same
 * pairs file should not re-embed 20,000 texts. One append-only file per embedder id, records
 * of `sha256(text)` (32 bytes) followed by the vector (dims × float32).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Embedder } from '../../embed/types.js';

const HASH_BYTES = 32;

export class EvalVectorCache {
  private readonly vectors = new Map<string, Float32Array>();
  private readonly file: string;

  private constructor(
    private readonly embedder: Embedder,
    dir: string,
  ) {
    const name = createHash('sha256').update(embedder.id).digest('hex').slice(0, 16);
    this.file = join(dir, `${name}-${embedder.dims}.bin`);
  }

  static async open(embedder: Embedder, dir: string): Promise<EvalVectorCache> {
    const cache = new EvalVectorCache(embedder, dir);
    await mkdir(dir, { recursive: true });
    if (existsSync(cache.file)) cache.readAll(await readFile(cache.file));
    return cache;
  }

  /** Vectors for every text, embedding the unknown ones in batches; `onProgress(done, total)`. */
  async embedAll(
    texts: string[],
    onProgress: (done: number, total: number) => void = () => {},
    batchSize = 64,
  ): Promise<Float32Array[]> {
    const unknown = [...new Set(texts.filter((t) => !this.vectors.has(hashText(t))))];
    for (let start = 0; start < unknown.length; start += batchSize) {
      const batch = unknown.slice(start, start + batchSize);
      const rows = await this.embedder.embed(batch);
      const records: Buffer[] = [];
      batch.forEach((text, i) => {
        const vector = rows[i].slice();
        const key = hashText(text);
        this.vectors.set(key, vector);
        records.push(Buffer.from(key, 'hex'), Buffer.from(vector.buffer));
      });
      await appendFile(this.file, Buffer.concat(records));
      onProgress(Math.min(start + batchSize, unknown.length), unknown.length);
    }
    return texts.map((t) => this.vectors.get(hashText(t))!);
  }

  private readAll(data: Buffer): void {
    const dims = this.embedder.dims;
    const record = HASH_BYTES + dims * 4;
    // A partial record at the end (interrupted run) is ignored.
    for (let off = 0; off + record <= data.length; off += record) {
      const key = data.toString('hex', off, off + HASH_BYTES);
      const bytes = data.subarray(off + HASH_BYTES, off + record);
      const vector = new Float32Array(dims);
      Buffer.from(vector.buffer).set(bytes);
      this.vectors.set(key, vector);
    }
  }
}

function hashText(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
