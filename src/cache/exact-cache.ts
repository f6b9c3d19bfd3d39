import type { IncomingHttpHeaders } from 'node:http';
import { throttledWarn } from '../observe/throttled-warn.js';
import type { Caller, Dialect, RouteName } from '../pipeline/types.js';
import { compositeKeyPrefix } from '../store/composite-key.js';
import { MemoryCounterStore } from '../store/memory.js';
import type { CounterStore, KvStore } from '../store/types.js';
import type { CacheConfig } from './config.js';
import { type CachedEntry, decodeEntry, encodeEntry } from './entry.js';
import { canonicalKey, exactKeyPrefix, modelOfKey, scopeOf } from './key.js';
import { type BypassReason, cacheDirectives, isCacheable } from './policy.js';
import { DIALECTS } from '../dialect/index.js';

/** pino's Logger fits; anything with `warn(details, message)` does. */
export interface CacheLog {
  warn(details: object, message: string): void;
}

export interface ExactCacheDeps {
  /** The `exact` KV namespace (opened with the config's maxEntries/maxBytes). */
  store: KvStore;
  config: CacheConfig;
  /** Where per-entry hit counts go (shared on Redis); in-process if not given. */
  counters?: CounterStore;
  log?: CacheLog;
  now?: () => number;
  /**
   * Names this cache's hit counters (`cache-hits:<name>:<key>`: the name is escaped, so the
   * cache key after it is unambiguous); default `exact`.
   */
  name?: string;
}

/** A request as the cache sees it. */
export interface CacheRequest {
  dialect: Dialect;
  route: RouteName;
  body: Readonly<Record<string, unknown>>;
  caller: Caller;
  /** For `cache-control` and `x-sluice-cache-ttl`; none = defaults. */
  headers?: IncomingHttpHeaders;
}

export type ExactPlan =
  | { use: false; reason: BypassReason }
  | {
      use: true;
      key: string;
      /** False under `cache-control: no-cache`: go upstream, then refresh the entry. */
      lookup: boolean;
      /** False when the TTL asked for is 0. */
      write: boolean;
      ttlSeconds: number;
    };

export interface ExactCacheStats {
  /** Requests that reached the exact cache. */
  requests: number;
  hits: number;
  /** Looked up and not found, or `no-cache` (a refresh). */
  misses: number;
  /** Not cacheable (not deterministic, n > 1, no-store, disabled). */
  bypassed: number;
  /** hits / requests (a ratio of counts). */
  hitRate: number;
  writes: number;
  /** Writes refused (incomplete answer, too large) or failed (store error). */
  writesSkipped: number;
  writeErrors: number;
  /** Lookups the store failed (e.g. Redis away); each was served as a miss. */
  readErrors: number;
  /** Tokens the hits did not spend (from the stored usage). */
  tokensSaved: { input: number; output: number };
}

/** Renew an entry on a hit only once it has used this share of its TTL (fewer writes). */
const RENEW_AFTER = 0.1;
const HIT_FLUSH_MS = 2_000;
/** Hit counters count within a fixed window of this long. */
const HIT_WINDOW_SECONDS = 7 * 24 * 3600;

/**
 * The exact (L1) cache: canonical request key → stored complete response. Used by the
 * pipeline stage and directly as a library (`get` / `set`). Store failures never fail a
 * request: a failed read is a miss, a failed write is logged.
 */
export class ExactCache {
  readonly config: CacheConfig;
  readonly #store: KvStore;
  readonly #counters: CounterStore;
  readonly #log: CacheLog;
  readonly #now: () => number;
  readonly #hitPrefix: string;
  readonly #pendingWrites = new Set<Promise<void>>();
  readonly #pendingHits = new Map<string, number>();
  readonly #hitFlusher: NodeJS.Timeout;
  readonly #stats = {
    requests: 0,
    hits: 0,
    misses: 0,
    bypassed: 0,
    writes: 0,
    writesSkipped: 0,
    writeErrors: 0,
    readErrors: 0,
    savedInput: 0,
    savedOutput: 0,
  };

  constructor(deps: ExactCacheDeps) {
    if (!(deps.config.ttlSeconds > 0)) throw new TypeError('cache.ttlSeconds must be > 0');
    this.config = deps.config;
    this.#store = deps.store;
    this.#counters = deps.counters ?? new MemoryCounterStore();
    const log = deps.log ?? {
      warn: (details: object, message: string) =>
        process.emitWarning(`${message} ${JSON.stringify(details)}`),
    };
    // While the store is away every request fails the same way: one line per message per 10 s.
    this.#log = { warn: throttledWarn(log) };
    this.#now = deps.now ?? Date.now;
    this.#hitPrefix = compositeKeyPrefix('cache-hits', deps.name ?? 'exact');
    this.#hitFlusher = setInterval(() => void this.#flushHits(), HIT_FLUSH_MS);
    this.#hitFlusher.unref();
  }

  /** Decide what the cache does with a request, and count it in the stats. Throws on a malformed TTL header. */
  plan(request: CacheRequest): ExactPlan {
    const plan = this.#decide(request);
    this.#stats.requests++;
    if (!plan.use) this.#stats.bypassed++;
    else if (!plan.lookup) this.#stats.misses++; // no-cache: a refresh counts as a miss
    return plan;
  }

  #decide(request: CacheRequest): ExactPlan {
    const directives = request.headers
      ? cacheDirectives(request.headers)
      : { noCache: false, noStore: false };
    const verdict = directives.noStore
      ? ({ ok: false, reason: 'no-store' } as const)
      : isCacheable(request.route, request.body, this.config);
    if (!verdict.ok) return { use: false, reason: verdict.reason };
    const key = canonicalKey({
      dialect: request.dialect,
      route: request.route,
      body: request.body,
      scope: scopeOf(this.config.scope, request.caller),
    });
    const ttlSeconds = directives.ttlSeconds ?? this.config.ttlSeconds;
    return { use: true, key, lookup: !directives.noCache, write: ttlSeconds > 0, ttlSeconds };
  }

  /** Read an entry (a hit renews its TTL and is counted); a store error is a miss. */
  async lookup(key: string): Promise<CachedEntry | undefined> {
    let found: { value: Uint8Array; expiresAt: number } | undefined;
    try {
      found = await this.#store.getEntry(key);
    } catch (error) {
      this.#stats.readErrors++;
      this.#log.warn({ err: describe(error) }, 'exact cache read failed; treating as a miss');
    }
    const entry = found && decodeEntry(found.value);
    if (!found || !entry) {
      this.#stats.misses++;
      return undefined;
    }
    this.#stats.hits++;
    if (entry.usage) {
      this.#stats.savedInput +=
        entry.usage.inputTokens + entry.usage.cacheReadTokens + entry.usage.cacheWriteTokens;
      this.#stats.savedOutput += entry.usage.outputTokens;
    }
    this.#pendingHits.set(key, (this.#pendingHits.get(key) ?? 0) + 1);
    const ttlMs = entry.ttlSeconds * 1000;
    if (found.expiresAt !== 0 && found.expiresAt - this.#now() < ttlMs * (1 - RENEW_AFTER)) {
      // Tracked with the writes, so `flush()` also waits for a renewal in flight.
      const renewal: Promise<void> = this.#store
        .touch(key, entry.ttlSeconds)
        .then(
          () => {},
          (error: unknown) => this.#log.warn({ err: describe(error) }, 'exact cache renewal failed'),
        )
        .finally(() => this.#pendingWrites.delete(renewal));
      this.#pendingWrites.add(renewal);
    }
    return entry;
  }

  /**
   * Store in the background: the request never waits for or fails on a cache write.
   * `flush()` waits for the writes in flight.
   */
  remember(key: string, entry: CachedEntry): void {
    // Next loop turn: the reply's bytes go to the client before the (synchronous) SQLite write.
    const write = nextTurn()
      .then(() => this.write(key, entry))
      .finally(() => this.#pendingWrites.delete(write));
    this.#pendingWrites.add(write);
  }

  /** Store now; errors are logged and counted, never thrown. */
  async write(key: string, entry: CachedEntry): Promise<void> {
    const bytes = encodeEntry(entry);
    if (bytes.byteLength > this.config.maxBytes) {
      this.#stats.writesSkipped++;
      return;
    }
    try {
      await this.#store.set(key, bytes, entry.ttlSeconds);
      this.#stats.writes++;
    } catch (error) {
      this.#stats.writeErrors++;
      this.#log.warn({ err: describe(error) }, 'exact cache write failed');
    }
  }

  /** Count a write the stage decided not to make (incomplete stream, error event…). */
  noteSkippedWrite(): void {
    this.#stats.writesSkipped++;
  }

  /** Library use: the stored response for a request, if any (same rules as the gateway). */
  async get(
    request: CacheRequest,
  ): Promise<{ key: string; entry: CachedEntry; json(): unknown } | undefined> {
    const plan = this.plan(request);
    if (!plan.use || !plan.lookup) return undefined;
    const entry = await this.lookup(plan.key);
    if (!entry) return undefined;
    return { key: plan.key, entry, json: () => JSON.parse(new TextDecoder().decode(entry.body)) };
  }

  /**
   * Library use: store a complete response (parsed JSON or its bytes) for a request. Returns
   * false when the request is not cacheable or the response is not a complete answer.
   */
  async set(
    request: CacheRequest,
    response: Uint8Array | Record<string, unknown>,
    model?: string,
  ): Promise<boolean> {
    const plan = this.#decide(request);
    if (!plan.use || !plan.write) return false;
    const bytes =
      response instanceof Uint8Array ? response : new TextEncoder().encode(JSON.stringify(response));
    const parsed =
      response instanceof Uint8Array
        ? (JSON.parse(new TextDecoder().decode(response)) as Record<string, unknown>)
        : response;
    const dialect = DIALECTS[request.dialect];
    if (!dialect.isCompleteReply(request.route, parsed)) return false;
    await this.write(plan.key, {
      dialect: request.dialect,
      route: request.route,
      model: model ?? (typeof parsed.model === 'string' ? parsed.model : String(request.body.model ?? '')),
      createdAt: this.#now(),
      ttlSeconds: plan.ttlSeconds,
      usage: dialect.usage(parsed.usage),
      streamed: false,
      body: bytes,
    });
    return true;
  }

  /**
   * Drop entries by scope (a value from `scopeOf`) and/or requested model; neither = all.
   * Returns how many went.
   */
  async purge(filter: { scope?: string; model?: string } = {}): Promise<number> {
    const { scope, model } = filter;
    if (scope !== undefined && model !== undefined) {
      return this.#store.deletePrefix(exactKeyPrefix(scope, model));
    }
    if (scope !== undefined) return this.#store.deletePrefix(exactKeyPrefix(scope));
    if (model === undefined) return this.#store.deletePrefix('');
    let deleted = 0;
    for await (const key of this.#store.keys('')) {
      if (modelOfKey(key) === model && (await this.#store.delete(key))) deleted++;
    }
    return deleted;
  }

  /** An entry with its expiry and hit count (admin views, tests). */
  async inspect(key: string): Promise<{ entry: CachedEntry; expiresAt: number; hits: number } | undefined> {
    const found = await this.#store.getEntry(key);
    const entry = found && decodeEntry(found.value);
    if (!found || !entry) return undefined;
    const [stored] = await this.#counters.get([this.#hitPrefix + key]);
    return { entry, expiresAt: found.expiresAt, hits: stored + (this.#pendingHits.get(key) ?? 0) };
  }

  stats(): ExactCacheStats {
    const s = this.#stats;
    return {
      requests: s.requests,
      hits: s.hits,
      misses: s.misses,
      bypassed: s.bypassed,
      hitRate: s.requests === 0 ? 0 : s.hits / s.requests,
      writes: s.writes,
      writesSkipped: s.writesSkipped,
      writeErrors: s.writeErrors,
      readErrors: s.readErrors,
      tokensSaved: { input: s.savedInput, output: s.savedOutput },
    };
  }

  /** Wait for background writes and TTL renewals, and push pending hit counts. */
  async flush(): Promise<void> {
    while (this.#pendingWrites.size > 0) await Promise.all(this.#pendingWrites);
    await this.#flushHits();
  }

  async close(): Promise<void> {
    clearInterval(this.#hitFlusher);
    await this.flush();
  }

  async #flushHits(): Promise<void> {
    if (this.#pendingHits.size === 0) return;
    const hits = [...this.#pendingHits];
    this.#pendingHits.clear();
    try {
      await Promise.all(
        hits.map(([key, n]) => this.#counters.add(this.#hitPrefix + key, n, HIT_WINDOW_SECONDS)),
      );
    } catch (error) {
      this.#log.warn({ err: describe(error) }, 'exact cache hit counts not saved');
    }
  }
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
