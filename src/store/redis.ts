import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { isStoreUnavailable } from './errors.js';
import { checkLimits } from './expiry.js';
import { ledgerRowMatches } from './ledger-match.js';
import { LedgerSpool, replayAllSpools, type SpooledRow, spoolTotals } from './ledger-spool.js';
import { RedisCircuitStore, RedisLeaseStore } from './redis-coordination.js';
import { RedisLink } from './redis-link.js';
import { type LedgerRollupGroup, type LedgerRollupQuery, MultiRollup, ROLLUP_PAGE } from './ledger-rollup.js';
import { keyPart } from './composite-key.js';
import {
  CANCEL_ADD,
  COUNTER_MIGRATE,
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
const cancelAddScript = new LuaScript(CANCEL_ADD);
const setLimitedScript = new LuaScript(KV_SET_LIMITED, 5);
const getEntryScript = new LuaScript(KV_GET_ENTRY);
const touchScript = new LuaScript(KV_TOUCH);
const deleteLimitedScript = new LuaScript(KV_DELETE_LIMITED, 3);
const sweepLimitedScript = new LuaScript(KV_SWEEP_LIMITED, 3);
const counterMigrateScript = new LuaScript(COUNTER_MIGRATE, 2);

const SCAN_COUNT = 500;
const SWEEP_BATCH = 500;

export interface RedisStoreOptions {
  /** Prefix of every key this store writes (several gateways or tests can share one Redis). */
  keyPrefix?: string;
  /** How often a limited KV namespace drops the books of expired entries. 0 = never. */
  sweepIntervalMs?: number;
  /** Directory where ledger rows wait while Redis is away; none = a failed ledger write throws. */
  spoolDir?: string;
  /** How often spooled ledger rows are retried besides on reconnect; default 2 s. */
  replayIntervalMs?: number;
}

export interface RedisConnectOptions extends RedisStoreOptions {
  /** Give up a connection attempt after this long (boot and every reconnect); default 2000. */
  connectTimeoutMs?: number;
  /** A command unanswered after this long fails as `StoreUnavailableError`; default 500. */
  commandTimeoutMs?: number;
}

/**
 * Shared state on Redis: what makes several gateway instances one cache and one budget.
 *
 * Key layout (after the prefix, default `sluice:`), hash-tagged where a script touches several
 * keys so that each script's keys share one Redis Cluster slot:
 * - `{ctr}:<key>`, `{ctr}:op:<token>`: counters (budgets, rate limits, hit counts) and
 *   reservation tokens. A reservation spans counters of different callers (key, user, team),
 *   so all counters share one tag, hence one slot: counters do not spread over a Cluster.
 * - `kv:{<ns>}:d:<key>`, `kv:{<ns>}:m:*`: a size-limited KV namespace (the exact cache) and its
 *   LRU books, one slot per namespace (eviction picks victims anywhere in the namespace).
 * - `kv:<ns>:d:<key>`: an unlimited namespace (virtual keys without PostgreSQL...): single-key
 *   commands only, so its keys spread over the slots.
 * - `ledger:<name>`: one sorted set per ledger. `flight:<key>`: single-flight leases.
 * - `circuit:{<upstream>}:open|tripped|probe`: an upstream's shared circuit.
 */
export class RedisStore {
  readonly redis: Redis;
  readonly link: RedisLink;
  readonly counters: RedisCounterStore;
  readonly leases: RedisLeaseStore;
  readonly #prefix: string;
  readonly #sweepIntervalMs: number;
  readonly #spoolDir: string | undefined;
  readonly #replayIntervalMs: number;
  readonly #namespaces = new Set<RedisKvStore>();
  readonly #ledgers = new Set<RedisLedgerStore<{ ts: number }>>();

  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    this.redis = redis;
    this.link = new RedisLink(redis);
    this.#prefix = options.keyPrefix ?? 'sluice:';
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.#spoolDir = options.spoolDir;
    this.#replayIntervalMs = options.replayIntervalMs ?? 2_000;
    this.counters = new RedisCounterStore(this.link, `${this.#prefix}{ctr}:`, `${this.#prefix}{ctr}:op:`);
    this.leases = new RedisLeaseStore(this.link, `${this.#prefix}flight:`);
  }

  /** The shared circuit of upstream `name`. */
  circuit(name: string): RedisCircuitStore {
    return new RedisCircuitStore(this.link, `${this.#prefix}circuit:{${keyPart(name)}}:`);
  }

  /**
   * Counters written before keys were hash-tagged (`ctr:<key>`) move to `{ctr}:<key>`, their
   * values added, so budgets spent so far survive the upgrade. Runs once at connect; on a
   * Redis with no old keys it is one SCAN. Resolves with how many moved.
   */
  async migrateCounters(): Promise<number> {
    const oldPrefix = `${this.#prefix}ctr:`;
    const newPrefix = `${this.#prefix}{ctr}:`;
    let moved = 0;
    let cursor = '0';
    do {
      const [next, found] = await this.link.run((r) =>
        r.scan(cursor, 'MATCH', `${escapeGlob(oldPrefix)}*`, 'COUNT', SCAN_COUNT),
      );
      cursor = next;
      for (const key of found) {
        const renamed = newPrefix + key.slice(oldPrefix.length);
        moved += Number(await this.link.run((r) => counterMigrateScript.run(r, [key, renamed], [])));
      }
    } while (cursor !== '0');
    return moved;
  }

  /**
   * Connect to `url`, failing fast (with the URL's host in the message) if Redis is not there.
   * Afterwards nothing waits for Redis: a command is not queued while disconnected, not resent
   * after a reconnect (a rate-limit or budget script must not run twice), and fails after the
   * command timeout; each of those throws `StoreUnavailableError`. Reconnects go on forever.
   */
  static async connect(url: string, options: RedisConnectOptions = {}): Promise<RedisStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: options.connectTimeoutMs ?? 2_000,
      commandTimeout: options.commandTimeoutMs ?? 500,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
    });
    // Connection errors surface per command as StoreUnavailableError; without a listener
    // ioredis would print each reconnect failure as an unhandled error event.
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (error) {
      redis.disconnect();
      const where = safeHost(url);
      throw new Error(`cannot connect to Redis at ${where}: ${(error as Error).message}`, { cause: error });
    }
    const store = new RedisStore(redis, options);
    // Best effort: a failure leaves the old counters where they were (and logs nothing: the
    // store's own errors surface on the first real command).
    await store.migrateCounters().catch(() => 0);
    return store;
  }

  kv(namespace: string, limits: KvLimits = {}): RedisKvStore {
    const { maxEntries, maxBytes } = checkLimits(limits);
    const limited = Number.isFinite(maxEntries) || Number.isFinite(maxBytes);
    const base = limited ? `${this.#prefix}kv:{${namespace}}:` : `${this.#prefix}kv:${namespace}:`;
    const store = new RedisKvStore(this.link, base, limits, this.#sweepIntervalMs);
    if (limited) {
      // The books of the layout before hash tags: no longer read, and the sorted set never expires.
      const old = `${this.#prefix}kv:${namespace}:m:`;
      this.link
        .run((r) => r.unlink(`${old}lru`, `${old}sizes`, `${old}bytes`, `${old}clock`))
        .catch(() => {});
    }
    this.#namespaces.add(store);
    return store;
  }

  ledger<Row extends { ts: number }>(name: string): RedisLedgerStore<Row> {
    const spool = this.#spoolDir === undefined ? undefined : new LedgerSpool(this.#spoolDir, name);
    const ledger = new RedisLedgerStore<Row>(this.link, `${this.#prefix}ledger:${name}`, {
      spool,
      replayIntervalMs: this.#replayIntervalMs,
    });
    this.#ledgers.add(ledger);
    return ledger;
  }

  /** Ledger rows spooled while Redis was away, and replayed since, over all ledgers. */
  spoolStats(): { ledgerSpooled: number; ledgerReplayed: number } {
    return spoolTotals(this.#ledgers);
  }

  /** Replay every ledger's spooled rows now; resolves with how many went (tests, admin). */
  replaySpools(): Promise<number> {
    return replayAllSpools(this.#ledgers);
  }

  async close(): Promise<void> {
    for (const ns of this.#namespaces) await ns.close();
    for (const ledger of this.#ledgers) await ledger.close();
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
  readonly #link: RedisLink;
  readonly #data: string;
  readonly #meta: readonly [lru: string, sizes: string, bytes: string, clock: string];
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #limited: boolean;
  readonly #sweeper: NodeJS.Timeout | undefined;

  constructor(link: RedisLink, base: string, limits: KvLimits, sweepIntervalMs: number) {
    const { maxEntries, maxBytes } = checkLimits(limits);
    this.#link = link;
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
    if (!this.#limited) return (await this.#link.run((r) => r.getBuffer(this.#data + key))) ?? undefined;
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<KvEntry | undefined> {
    const reply = (await this.#link.run((r) => getEntryScript.run(r, this.#useKeys(key), [key]))) as
      | [Buffer, number]
      | null;
    if (!reply) return undefined;
    const [value, pttl] = reply;
    return { value, expiresAt: pttl >= 0 ? Date.now() + pttl : 0 };
  }

  async set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    const ttlMs = ttlSeconds > 0 ? Math.max(1, Math.round(ttlSeconds * 1000)) : 0;
    if (!this.#limited) {
      if (ttlMs > 0) await this.#link.run((r) => r.set(this.#data + key, asBuffer(value), 'PX', ttlMs));
      else await this.#link.run((r) => r.set(this.#data + key, asBuffer(value)));
      return;
    }
    if (value.byteLength > this.#maxBytes) {
      await this.delete(key);
      return;
    }
    const [lru, sizes, bytes, clock] = this.#meta;
    await this.#link.run((r) =>
      setLimitedScript.run(
        r,
        [this.#data + key, lru, sizes, bytes, clock],
        [
          asBuffer(value),
          ttlMs,
          key,
          Number.isFinite(this.#maxEntries) ? this.#maxEntries : '',
          Number.isFinite(this.#maxBytes) ? this.#maxBytes : '',
          this.#data,
        ],
      ),
    );
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const ttlMs = ttlSeconds > 0 ? Math.max(1, Math.round(ttlSeconds * 1000)) : 0;
    const ok = await this.#link.run((r) => touchScript.run(r, this.#useKeys(key), [ttlMs, key]));
    return ok === 1;
  }

  /** The data key, plus the LRU books when a read or touch counts as use (limited namespaces). */
  #useKeys(key: string): string[] {
    const [lru, , , clock] = this.#meta;
    return this.#limited ? [this.#data + key, lru, clock] : [this.#data + key];
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
    return Number(
      await this.#link.run((r) => sweepLimitedScript.run(r, [lru, sizes, bytes], [this.#data, SWEEP_BATCH])),
    );
  }

  async close(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
  }

  async #deleteMany(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    if (!this.#limited) return this.#link.run((r) => r.del(...keys.map((key) => this.#data + key)));
    const [lru, sizes, bytes] = this.#meta;
    return Number(
      await this.#link.run((r) => deleteLimitedScript.run(r, [lru, sizes, bytes], [this.#data, ...keys])),
    );
  }

  /** SCAN the namespace's data keys starting with `prefix`, yielding batches of user keys. */
  async *#scan(prefix: string): AsyncIterable<string[]> {
    const match = `${escapeGlob(this.#data + prefix)}*`;
    const strip = this.#data.length;
    let cursor = '0';
    do {
      const [next, found] = await this.#link.run((r) => r.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT));
      cursor = next;
      if (found.length > 0) yield found.map((key) => key.slice(strip));
    } while (cursor !== '0');
  }
}

/** How long an operation token lives after its reservation ran or was cancelled. */
const OP_TOKEN_TTL_MS = 60_000;
/** A cancellation is retried this often, for at most this long (well within the token's life). */
const CANCEL_RETRY_MS = 500;
const CANCEL_GIVE_UP_MS = 30_000;

/**
 * Counters as Redis floats; `tryAdd` is one Lua script, so it is atomic across instances.
 *
 * A reservation the client gave up on may still run on Redis later (a stalled Redis answers
 * its queued commands when it resumes): that would hold budget or rate-limit room for a request
 * that was refused. So each reservation carries a token, and when it fails in a way that may
 * have reached Redis it is cancelled in the background as soon as Redis answers again.
 */
export class RedisCounterStore implements CounterStore {
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #opPrefix: string;
  readonly #cancels = new Set<NodeJS.Timeout>();

  constructor(link: RedisLink, prefix: string, opPrefix: string) {
    this.#link = link;
    this.#prefix = prefix;
    this.#opPrefix = opPrefix;
  }

  tryAdd(adds: readonly CounterAdd[]): Promise<TryAddResult> {
    return this.#apply(adds, true);
  }

  /** Unconditional: a settlement that times out but runs later is still right, so it is never cancelled. */
  async add(key: string, amount: number, ttlSeconds: number): Promise<number> {
    const result = await this.#apply([{ key, amount, limit: Number.POSITIVE_INFINITY, ttlSeconds }], false);
    return result.ok ? result.values[0] : Number.NaN;
  }

  async #apply(adds: readonly CounterAdd[], cancelOnFailure: boolean): Promise<TryAddResult> {
    if (adds.length === 0) return { ok: true, values: [] };
    const keys = adds.map((add) => this.#prefix + add.key);
    keys.push(this.#opPrefix + randomBytes(12).toString('base64url'));
    const args: (string | number)[] = [];
    for (const add of adds) {
      const ttlMs = add.ttlSeconds > 0 ? Math.max(1, Math.round(add.ttlSeconds * 1000)) : 0;
      args.push(String(add.amount), Number.isFinite(add.limit) ? String(add.limit) : '', ttlMs);
    }
    args.push(OP_TOKEN_TTL_MS);
    let reply: [number, ...(Buffer | number)[]];
    try {
      reply = (await this.#link.run((r) => tryAddScript.run(r, keys, args))) as typeof reply;
    } catch (error) {
      if (cancelOnFailure && isStoreUnavailable(error) && error.maybeApplied) {
        this.#cancelLater(keys, [...adds.map((add) => String(add.amount)), OP_TOKEN_TTL_MS]);
      }
      throw error;
    }
    if (reply[0] === 1) return { ok: true, values: reply.slice(1).map((v) => Number(String(v))) };
    return { ok: false, index: Number(reply[1]), current: Number(String(reply[2])) };
  }

  #cancelLater(keys: readonly string[], args: readonly (string | number)[]): void {
    const giveUpAt = Date.now() + CANCEL_GIVE_UP_MS;
    const attempt = () => {
      this.#cancels.delete(timer);
      if (Date.now() > giveUpAt) return;
      this.#link
        .run((r) => cancelAddScript.run(r, keys, args))
        .catch(() => {
          timer = setTimeout(attempt, CANCEL_RETRY_MS);
          timer.unref();
          this.#cancels.add(timer);
        });
    };
    let timer = setTimeout(attempt, CANCEL_RETRY_MS);
    timer.unref();
    this.#cancels.add(timer);
  }

  async get(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const values = await this.#link.run((r) => r.mget(...keys.map((key) => this.#prefix + key)));
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  async close(): Promise<void> {
    for (const timer of this.#cancels) clearTimeout(timer);
    this.#cancels.clear();
  }
}

/**
 * A ledger as a sorted set scored by `ts`. Members are `<instance>:<seq>\n<json>`: the prefix is
 * the row's id, so identical rows stay distinct and adding the same member again (a replay from
 * the spool) changes nothing. `where` is applied after the range read (same rule as the other
 * backends).
 *
 * While Redis is away, rows go to the spool on disk (when there is one) and are replayed on
 * reconnect and every `replayIntervalMs`; a report first replays what it can.
 */
export class RedisLedgerStore<Row extends { ts: number }> implements LedgerStore<Row> {
  readonly #link: RedisLink;
  readonly #key: string;
  readonly #instance = randomBytes(6).toString('hex');
  readonly #spool: LedgerSpool | undefined;
  readonly #replayer: NodeJS.Timeout | undefined;
  readonly #onReady = () => void this.replaySpool().catch(() => {});
  #seq = 0;

  constructor(
    link: RedisLink,
    key: string,
    options: { spool?: LedgerSpool; replayIntervalMs?: number } = {},
  ) {
    this.#link = link;
    this.#key = key;
    this.#spool = options.spool;
    if (this.#spool) {
      link.redis.on('ready', this.#onReady);
      this.#replayer = setInterval(this.#onReady, options.replayIntervalMs ?? 2_000);
      this.#replayer.unref();
      // Rows a previous process left behind.
      setImmediate(this.#onReady);
    }
  }

  /** Rows that went to the spool / came back from it since start. */
  get spoolStats(): { spooled: number; replayed: number } {
    return { spooled: this.#spool?.spooled ?? 0, replayed: this.#spool?.replayed ?? 0 };
  }

  async append(row: Row): Promise<void> {
    const seq = String(++this.#seq).padStart(12, '0');
    const spooled: SpooledRow = { score: row.ts, member: `${this.#instance}:${seq}\n${JSON.stringify(row)}` };
    try {
      await this.#link.run((r) => r.zadd(this.#key, spooled.score, spooled.member));
    } catch (error) {
      if (!this.#spool || !isStoreUnavailable(error)) throw error;
      await this.#spool.append(spooled);
    }
  }

  /**
   * Write spooled rows to Redis; resolves with how many went (0 when there was nothing or
   * Redis is still away). One replay at a time; a call during one joins it.
   */
  replaySpool(): Promise<number> {
    const spool = this.#spool;
    if (!spool || !this.#link.available) return Promise.resolve(0);
    return spool.replay(async (rows) => {
      await this.#link.run((r) => r.zadd(this.#key, ...rows.flatMap((row) => [row.score, row.member])));
    });
  }

  async query(filter: {
    since: number;
    until?: number;
    where?: Partial<Record<keyof Row, string>>;
  }): Promise<Row[]> {
    await this.replaySpool().catch(() => 0);
    const max = filter.until === undefined ? '+inf' : `(${filter.until}`;
    const members = await this.#link.run((r) => r.zrangebyscore(this.#key, filter.since, max));
    const rows: Row[] = [];
    for (const member of members) {
      const row = JSON.parse(member.slice(member.indexOf('\n') + 1)) as Row;
      if (!filter.where || ledgerRowMatches(row, filter.where)) rows.push(row);
    }
    return rows;
  }

  /**
   * A range scan in pages, rolled up as it goes: memory stays bounded by a page whatever the
   * range holds. Pages advance by score, so rows appended meanwhile neither repeat nor shift others.
   */
  async rollup(queries: readonly LedgerRollupQuery[]): Promise<LedgerRollupGroup[][]> {
    const rollup = new MultiRollup(queries);
    await this.replaySpool().catch(() => 0);
    const add = (member: string) => rollup.add(JSON.parse(member.slice(member.indexOf('\n') + 1)));
    let min = String(rollup.since);
    const max = `(${rollup.until}`;
    for (;;) {
      const page = await this.#link.run((r) =>
        r.zrangebyscore(this.#key, min, max, 'WITHSCORES', 'LIMIT', 0, ROLLUP_PAGE),
      );
      if (page.length / 2 < ROLLUP_PAGE) {
        for (let i = 0; i < page.length; i += 2) add(page[i]);
        break;
      }
      const lastScore = page[page.length - 1];
      // Rows at the last score may continue on the next page: take them all at once below.
      for (let i = 0; i < page.length; i += 2) if (page[i + 1] !== lastScore) add(page[i]);
      for (const member of await this.#link.run((r) => r.zrangebyscore(this.#key, lastScore, lastScore)))
        add(member);
      min = `(${lastScore}`;
    }
    return rollup.result();
  }

  async close(): Promise<void> {
    if (!this.#spool) return;
    if (this.#replayer) clearInterval(this.#replayer);
    this.#link.redis.off('ready', this.#onReady);
    await this.replaySpool().catch(() => 0);
    await this.#spool.close();
  }
}
