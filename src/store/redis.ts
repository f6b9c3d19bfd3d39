import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { checkLimits } from './expiry.js';
import { ledgerRowMatches } from './ledger-match.js';
import {
  KV_DELETE_LIMITED,
  KV_GET_ENTRY,
  KV_SET_LIMITED,
  KV_SWEEP_LIMITED,
  KV_TOUCH,
  LuaScript,
  TRY_ADD,
} from './redis-scripts.js';
import type {
  CounterAdd,
  CounterStore,
  KvEntry,
  KvLimits,
  KvStore,
  LedgerStore,
  TryAddResult,
} from './types.js';

const tryAddScript = new LuaScript(TRY_ADD);
const setLimitedScript = new LuaScript(KV_SET_LIMITED, 5);
const getEntryScript = new LuaScript(KV_GET_ENTRY, 3);
const touchScript = new LuaScript(KV_TOUCH, 3);
const deleteLimitedScript = new LuaScript(KV_DELETE_LIMITED, 3);
const sweepLimitedScript = new LuaScript(KV_SWEEP_LIMITED, 3);

const SCAN_COUNT = 500;
const SWEEP_BATCH = 500;

export interface RedisStoreOptions {
  /** Prefix of every key this store writes (several gateways or tests can share one Redis). */
  keyPrefix?: string;
  /** How often a limited KV namespace drops the books of expired entries. 0 = never. */
  sweepIntervalMs?: number;
}

/** Shared state on Redis: what makes several gateway instances one cache and one budget. */
export class RedisStore {
  readonly redis: Redis;
  readonly counters: RedisCounterStore;
  readonly #prefix: string;
  readonly #sweepIntervalMs: number;
  readonly #namespaces = new Set<RedisKvStore>();

  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    this.redis = redis;
    this.#prefix = options.keyPrefix ?? 'sluice:';
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.counters = new RedisCounterStore(redis, `${this.#prefix}ctr:`);
  }

  /** Connect to `url`, failing fast (with the URL's host in the message) if Redis is not there. */
  static async connect(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      const where = safeHost(url);
      throw new Error(`cannot connect to Redis at ${where}: ${(error as Error).message}`, { cause: error });
    }
    return new RedisStore(redis, options);
  }

  kv(namespace: string, limits: KvLimits = {}): RedisKvStore {
    const store = new RedisKvStore(
      this.redis,
      `${this.#prefix}kv:${namespace}:`,
      limits,
      this.#sweepIntervalMs,
    );
    this.#namespaces.add(store);
    return store;
  }

  ledger<Row extends { ts: number }>(name: string): RedisLedgerStore<Row> {
    return new RedisLedgerStore<Row>(this.redis, `${this.#prefix}ledger:${name}`);
  }

  async close(): Promise<void> {
    for (const ns of this.#namespaces) await ns.close();
    if (this.redis.status !== 'end') await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

function safeHost(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'the configured URL';
  }
}

const asBuffer = (value: Uint8Array): Buffer =>
  Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);

/** SCAN MATCH uses glob syntax; a literal prefix must escape its glob characters. */
const escapeGlob = (text: string): string => text.replace(/[\\*?[\]]/g, '\\$&');

/**
 * One KV namespace. Without limits it is plain SET/GET with PX expiry; with limits every write,
 * read and touch also maintains the LRU books in Lua, atomically across instances.
 */
export class RedisKvStore implements KvStore {
  readonly #redis: Redis;
  readonly #data: string;
  readonly #meta: readonly [lru: string, sizes: string, bytes: string, clock: string];
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #limited: boolean;
  readonly #sweeper: NodeJS.Timeout | undefined;

  constructor(redis: Redis, base: string, limits: KvLimits, sweepIntervalMs: number) {
    const { maxEntries, maxBytes } = checkLimits(limits);
    this.#redis = redis;
    this.#data = `${base}d:`;
    this.#meta = [`${base}m:lru`, `${base}m:sizes`, `${base}m:bytes`, `${base}m:clock`];
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
    this.#limited = Number.isFinite(maxEntries) || Number.isFinite(maxBytes);
    if (this.#limited && sweepIntervalMs > 0) {
      this.#sweeper = setInterval(() => {
        this.sweep().catch(() => {});
      }, sweepIntervalMs);
      this.#sweeper.unref();
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    if (!this.#limited) return (await this.#redis.getBuffer(this.#data + key)) ?? undefined;
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<KvEntry | undefined> {
    const [lru, , , clock] = this.#meta;
    const reply = (await getEntryScript.run(
      this.#redis,
      [this.#data + key, lru, clock],
      [key, this.#limited ? '1' : '0'],
    )) as [Buffer, number] | null;
    if (!reply) return undefined;
    const [value, pttl] = reply;
    return { value, expiresAt: pttl >= 0 ? Date.now() + pttl : 0 };
  }

  async set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    const ttlMs = ttlSeconds > 0 ? Math.max(1, Math.round(ttlSeconds * 1000)) : 0;
    if (!this.#limited) {
      if (ttlMs > 0) await this.#redis.set(this.#data + key, asBuffer(value), 'PX', ttlMs);
      else await this.#redis.set(this.#data + key, asBuffer(value));
      return;
    }
    if (value.byteLength > this.#maxBytes) {
      await this.delete(key);
      return;
    }
    const [lru, sizes, bytes, clock] = this.#meta;
    await setLimitedScript.run(
      this.#redis,
      [this.#data + key, lru, sizes, bytes, clock],
      [
        asBuffer(value),
        ttlMs,
        key,
        Number.isFinite(this.#maxEntries) ? this.#maxEntries : '',
        Number.isFinite(this.#maxBytes) ? this.#maxBytes : '',
        this.#data,
      ],
    );
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const ttlMs = ttlSeconds > 0 ? Math.max(1, Math.round(ttlSeconds * 1000)) : 0;
    const [lru, , , clock] = this.#meta;
    const ok = await touchScript.run(
      this.#redis,
      [this.#data + key, lru, clock],
      [ttlMs, key, this.#limited ? '1' : '0'],
    );
    return ok === 1;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.#deleteMany([key])) > 0;
  }

  async deletePrefix(prefix: string): Promise<number> {
    let deleted = 0;
    for await (const batch of this.#scan(prefix)) deleted += await this.#deleteMany(batch);
    return deleted;
  }

  async *keys(prefix: string): AsyncIterable<string> {
    const seen = new Set<string>();
    for await (const batch of this.#scan(prefix)) {
      for (const key of batch) {
        if (seen.has(key)) continue;
        seen.add(key);
        yield key;
      }
    }
  }

  /** Drop the LRU books of expired members among the least recently used. */
  async sweep(): Promise<number> {
    if (!this.#limited) return 0;
    const [lru, sizes, bytes] = this.#meta;
    return Number(await sweepLimitedScript.run(this.#redis, [lru, sizes, bytes], [this.#data, SWEEP_BATCH]));
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
  }

  async #deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    if (!this.#limited) return this.#redis.del(...keys.map((key) => this.#data + key));
    const [lru, sizes, bytes] = this.#meta;
    return Number(await deleteLimitedScript.run(this.#redis, [lru, sizes, bytes], [this.#data, ...keys]));
  }

  /** SCAN the namespace's data keys starting with `prefix`, yielding batches of user keys. */
  async *#scan(prefix: string): AsyncIterable<string[]> {
    const match = `${escapeGlob(this.#data + prefix)}*`;
    const strip = this.#data.length;
    let cursor = '0';
    do {
      const [next, found] = await this.#redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (found.length > 0) yield found.map((key) => key.slice(strip));
    } while (cursor !== '0');
  }
}

/** Counters as Redis floats; `tryAdd` is one Lua script, so it is atomic across instances. */
export class RedisCounterStore implements CounterStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  async tryAdd(adds: readonly CounterAdd[]): Promise<TryAddResult> {
    if (adds.length === 0) return { ok: true, values: [] };
    const keys = adds.map((add) => this.#prefix + add.key);
    const args: (string | number)[] = [];
    for (const add of adds) {
      const ttlMs = add.ttlSeconds > 0 ? Math.max(1, Math.round(add.ttlSeconds * 1000)) : 0;
      args.push(String(add.amount), Number.isFinite(add.limit) ? String(add.limit) : '', ttlMs);
    }
    const reply = (await tryAddScript.run(this.#redis, keys, args)) as [number, ...(Buffer | number)[]];
    if (reply[0] === 1) return { ok: true, values: reply.slice(1).map((v) => Number(String(v))) };
    return { ok: false, index: Number(reply[1]), current: Number(String(reply[2])) };
  }

  async add(key: string, amount: number, ttlSeconds: number): Promise<number> {
    const result = await this.tryAdd([{ key, amount, limit: Number.POSITIVE_INFINITY, ttlSeconds }]);
    return result.ok ? result.values[0] : Number.NaN;
  }

  async get(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const values = await this.#redis.mget(...keys.map((key) => this.#prefix + key));
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  async close(): Promise<void> {}
}

/**
 * A ledger as a sorted set scored by `ts`. Members are `<instance>:<seq>\n<json>` so identical
 * rows stay distinct; `where` is applied after the range read (same rule as the other backends).
 */
export class RedisLedgerStore<Row extends { ts: number }> implements LedgerStore<Row> {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #instance = randomBytes(6).toString('hex');
  #seq = 0;

  constructor(redis: Redis, key: string) {
    this.#redis = redis;
    this.#key = key;
  }

  async append(row: Row): Promise<void> {
    const seq = String(++this.#seq).padStart(12, '0');
    await this.#redis.zadd(this.#key, row.ts, `${this.#instance}:${seq}\n${JSON.stringify(row)}`);
  }

  async query(filter: {
    since: number;
    until?: number;
    where?: Partial<Record<keyof Row, string>>;
  }): Promise<Row[]> {
    const max = filter.until === undefined ? '+inf' : `(${filter.until}`;
    const members = await this.#redis.zrangebyscore(this.#key, filter.since, max);
    const rows: Row[] = [];
    for (const member of members) {
      const row = JSON.parse(member.slice(member.indexOf('\n') + 1)) as Row;
      if (!filter.where || ledgerRowMatches(row, filter.where)) rows.push(row);
    }
    return rows;
  }

  async close(): Promise<void> {}
}
