/**
 * Shares the semantic cache's entries between instances through one Redis stream. Every local
 * change is appended (XADD, trimmed to about `maxLength` events); each instance tails the
 * stream on a connection of its own (XREAD BLOCK) and applies the others' changes to its own
 * index. Vectors travel in the events, so nothing is embedded twice. The id of the last event
 * applied is the cache's `cursor`, saved with its entries: after a restart the instance
 * replays the stream from there.
 *
 * Redis away: lookups keep using the local index (fail open); changes wait in a bounded outbox
 * and are appended when Redis is back, and the tail resumes from its cursor. Events trimmed
 * from the stream before an instance read them are lost to it (counted as `missed`): those
 * questions are semantic misses there until asked again.
 *
 * The stream is one key, so it is Cluster-safe; its name carries the embedder id, so instances
 * with different embedders never mix vectors.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { SemanticCache } from './cache.js';
import type { SemanticChange } from './change.js';

export interface SharedLogOptions {
  url: string;
  /** Prefix of the stream key (the store's key prefix). */
  keyPrefix: string;
  /** Events kept in the stream (approximately: trimmed with MAXLEN ~). */
  maxLength: number;
  /** How long one XREAD waits for new events. */
  blockMs?: number;
  /** Changes kept while Redis is away; older ones are dropped beyond this. */
  outboxMax?: number;
  onError?: (what: string, error: unknown) => void;
}

export interface SharedLogStats {
  /** Local changes appended to the stream. */
  published: number;
  /** Changes waiting for Redis. */
  outbox: number;
  /** Changes dropped because the outbox was full. */
  dropped: number;
  /** Times this instance found events trimmed before it read them. */
  missed: number;
  connected: boolean;
}

type Fields = Array<string | Buffer>;

export class SharedLog {
  readonly key: string;
  readonly #cache: SemanticCache;
  readonly #origin = randomUUID();
  readonly #options: Required<Omit<SharedLogOptions, 'onError'>>;
  readonly #onError: (what: string, error: unknown) => void;
  readonly #writer: Redis;
  readonly #reader: Redis;
  readonly #outbox: Fields[] = [];
  #flushing = false;
  #closed = false;
  #tail: Promise<void> | undefined;
  readonly #stats = { published: 0, dropped: 0, missed: 0 };
  /** The tail's last read failed (reported once per outage, not per retry). */
  #tailFailing = false;

  constructor(cache: SemanticCache, embedderId: string, options: SharedLogOptions) {
    this.#cache = cache;
    this.#options = { blockMs: 1_000, outboxMax: 10_000, ...options };
    this.#onError = options.onError ?? (() => {});
    this.key = `${options.keyPrefix}{semantic}:log:${embedderId}`;
    const common = {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 2_000),
    };
    this.#writer = new Redis(options.url, { ...common, commandTimeout: 2_000 });
    // XREAD BLOCK holds its connection: a command timeout shorter than the block would cut it.
    this.#reader = new Redis(options.url, { ...common, commandTimeout: this.#options.blockMs + 2_000 });
    for (const redis of [this.#writer, this.#reader]) redis.on('error', () => {});
    this.#writer.on('ready', () => void this.#flush());
  }

  /**
   * Connects and replays what the stream holds after the cache's cursor (all of it on a first
   * start), for at most `catchUpMs`; then keeps tailing in the background. Redis unreachable
   * is not an error: the cache serves from its own entries and the tail retries.
   */
  async start(catchUpMs = 10_000): Promise<void> {
    await Promise.allSettled([this.#writer.connect(), this.#reader.connect()]);
    const caughtUp = this.#readUntilCurrent(catchUpMs).catch((error) => this.#onError('catch-up', error));
    await caughtUp;
    this.#tail = this.#tailLoop();
  }

  /** Appends a local change (the cache's `onChange`). Encodes at once: vectors may be views. */
  publish(change: SemanticChange): void {
    const fields = encode(this.#origin, change);
    if (this.#outbox.length >= this.#options.outboxMax) {
      this.#outbox.shift();
      this.#stats.dropped++;
    }
    this.#outbox.push(fields);
    void this.#flush();
  }

  stats(): SharedLogStats {
    return {
      ...this.#stats,
      outbox: this.#outbox.length,
      connected: this.#writer.status === 'ready' && this.#reader.status === 'ready',
    };
  }

  /** Appends what is still queued (briefly), stops tailing and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flush();
    this.#closed = true;
    this.#reader.disconnect();
    await this.#tail;
    await this.#writer.quit().catch(() => this.#writer.disconnect());
  }

  async #flush(): Promise<void> {
    if (this.#flushing || this.#closed) return;
    this.#flushing = true;
    try {
      while (this.#outbox.length > 0 && this.#writer.status === 'ready') {
        const batch = this.#outbox.slice(0, 64);
        const pipeline = this.#writer.pipeline();
        for (const fields of batch) {
          pipeline.xadd(this.key, 'MAXLEN', '~', this.#options.maxLength, '*', ...fields);
        }
        const results = (await pipeline.exec()) ?? [];
        const sent = results.findIndex(([error]) => error !== null);
        const done = sent < 0 ? batch.length : sent;
        this.#outbox.splice(0, done);
        this.#stats.published += done;
        if (sent >= 0) throw results[sent][0];
      }
    } catch (error) {
      // Kept in the outbox; the next publish or reconnect retries.
      this.#onError('publish', error);
    } finally {
      this.#flushing = false;
    }
  }

  async #tailLoop(): Promise<void> {
    while (!this.#closed) {
      try {
        // Back after an outage: note whether events were trimmed meanwhile, then catch up.
        if (this.#tailFailing) await this.#checkTrimmed();
        await this.#readOnce(this.#options.blockMs);
        this.#tailFailing = false;
      } catch (error) {
        if (this.#closed) return;
        if (!this.#tailFailing) this.#onError('tail', error);
        this.#tailFailing = true;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  async #readUntilCurrent(budgetMs: number): Promise<void> {
    if (this.#reader.status !== 'ready') return;
    const until = Date.now() + budgetMs;
    await this.#checkTrimmed();
    let read = 1;
    while (read > 0 && Date.now() < until) read = await this.#readOnce(0);
  }

  /** Reads and applies one batch after the cursor; `blockMs` 0 = do not wait. Returns its size. */
  async #readOnce(blockMs: number): Promise<number> {
    const from = this.#cache.cursor ?? '0-0';
    const block = blockMs > 0 ? ['BLOCK', blockMs] : [];
    const reply = (await this.#reader.callBuffer('XREAD', [
      'COUNT',
      1_000,
      ...block,
      'STREAMS',
      this.key,
      from,
    ])) as StreamReply;
    const events = eventsOf(reply);
    for (const [id, fields] of events) {
      try {
        const decoded = decode(fields);
        if (decoded && decoded.origin !== this.#origin) this.#cache.apply(decoded.change);
      } catch (error) {
        this.#onError('apply', error);
      }
      this.#cache.cursor = id.toString();
    }
    return events.length;
  }

  /** Counts a gap when events after the cursor were trimmed before this instance read them. */
  async #checkTrimmed(): Promise<void> {
    const cursor = this.#cache.cursor;
    if (!cursor) return;
    const first = await this.#reader.xrange(this.key, '-', '+', 'COUNT', 1);
    const firstId = first[0]?.[0];
    if (firstId && compareIds(firstId, cursor) > 0) {
      // The first event kept is newer than the cursor: whatever lay between may be gone.
      const info = (await this.#reader.call('XINFO', 'STREAM', this.key)) as unknown[];
      const at = info.indexOf('max-deleted-entry-id');
      const maxDeleted = at >= 0 ? String(info[at + 1]) : firstId;
      if (compareIds(maxDeleted, cursor) > 0) {
        this.#stats.missed++;
        this.#onError(
          'catch-up',
          new Error(`events after ${cursor} were trimmed before this instance read them`),
        );
      }
    }
  }
}

type StreamEvents = Array<[id: Buffer, fields: Buffer[]]>;
/** RESP2: `[[key, events]]`; RESP3 (ioredis 6's default) flattens the map: `[key, events]`. */
type StreamReply = [Buffer, StreamEvents] | Array<[Buffer, StreamEvents]> | null;

function eventsOf(reply: StreamReply): StreamEvents {
  if (!reply || reply.length === 0) return [];
  if (Buffer.isBuffer(reply[0])) return (reply as [Buffer, StreamEvents])[1] ?? [];
  return (reply as Array<[Buffer, StreamEvents]>)[0][1] ?? [];
}

/** Stream ids are `<ms>-<seq>`; compares them as numbers. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

function encode(origin: string, change: SemanticChange): Fields {
  const fields: Fields = ['o', origin, 'op', change.op];
  switch (change.op) {
    case 'add':
      fields.push('p', change.partition, 't', change.text, 'k', change.entryKey);
      fields.push('e', Number.isFinite(change.expiresAt) ? String(change.expiresAt) : '');
      if (change.vector) fields.push('v', vectorBytes(change.vector));
      break;
    case 'vector':
      fields.push('p', change.partition, 'k', change.entryKey, 'v', vectorBytes(change.vector));
      break;
    case 'delete':
      fields.push('k', change.entryKey);
      break;
    case 'purge':
      fields.push('p', change.partition);
      break;
  }
  return fields;
}

function decode(raw: Buffer[]): { origin: string; change: SemanticChange } | undefined {
  const field = new Map<string, Buffer>();
  for (let i = 0; i + 1 < raw.length; i += 2) field.set(raw[i].toString(), raw[i + 1]);
  const text = (name: string) => field.get(name)?.toString() ?? '';
  const origin = text('o');
  const vector = field.has('v') ? vectorOf(field.get('v')!) : undefined;
  switch (text('op')) {
    case 'add': {
      const expiry = text('e');
      return {
        origin,
        change: {
          op: 'add',
          partition: text('p'),
          text: text('t'),
          entryKey: text('k'),
          expiresAt: expiry ? Number(expiry) : Number.POSITIVE_INFINITY,
          vector,
        },
      };
    }
    case 'vector':
      return vector
        ? { origin, change: { op: 'vector', partition: text('p'), entryKey: text('k'), vector } }
        : undefined;
    case 'delete':
      return { origin, change: { op: 'delete', entryKey: text('k') } };
    case 'purge':
      return { origin, change: { op: 'purge', partition: text('p') } };
    default:
      // A newer instance's kind of event: skip it, do not stop the tail.
      return undefined;
  }
}

/** Copies the vector's bytes (little-endian f32, as every supported platform stores them). */
function vectorBytes(vector: Float32Array): Buffer {
  return Buffer.from(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
}

function vectorOf(bytes: Buffer): Float32Array | undefined {
  if (bytes.byteLength % 4 !== 0) return undefined;
  const vector = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(vector.buffer).set(bytes);
  return vector;
}
