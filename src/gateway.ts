import type { IncomingHttpHeaders } from 'node:http';
import { cachedReply, ExactCache, exactCacheStage, singleFlightStage } from './cache/index.js';
import { createSemanticCache, type SemanticCacheHandle } from './cache/semantic/create.js';
import { semanticCacheStage } from './cache/semantic/stage.js';
import type { Config } from './config/index.js';
import { createFlowControl, type FlowControl } from './flow/index.js';
import { createTokenEconomy, type TokenEconomy } from './cost/economy.js';
import { errorHeaders, isSluiceError, SluiceError } from './errors.js';
import { DIALECTS } from './dialect/index.js';
import { validateBody } from './dialect/validate.js';
import { safeHeaders } from './pipeline/header-value.js';
import { compose } from './pipeline/compose.js';
import { createContext, effectiveTimeoutMs } from './pipeline/context.js';
import type { Dialect, Reply, RequestContext, RouteName, Stage } from './pipeline/types.js';
import { UPSTREAM_KIND_OF, UpstreamRouter } from './route/upstreams.js';
import { FeedbackBook, type FeedbackHook, type FeedbackRecord } from './observe/feedback.js';
import type { Logger } from './observe/log.js';
import { throttledWarn } from './observe/throttled-warn.js';
import { ledgerTotals, type StatsSeries, statsSeries, statsWindow } from './observe/stats-series.js';
import { Observability } from './observe/index.js';
import { LangfuseScores } from './observe/langfuse-scores.js';
import type { CallObserver } from './cost/record-stage.js';
import { type Backend, openBackend } from './store/index.js';
import { UpstreamPools } from './upstream/pool.js';
import { upstreamStage } from './upstream/stage.js';
import { sideCallParent } from './cost/side-cost.js';

export interface GatewayOptions {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Keep all state in memory (tests, throw-away runs). */
  memory?: boolean;
  /**
   * OPTIONAL HOOK (wired by the app, e.g. to forward the score to Langfuse): called with each
   * score `POST /v1/feedback` has stored. Errors it throws are logged, never sent to the client.
   */
  onFeedback?: FeedbackHook;
  /** Delay between span batch exports (default 1 s; tests shorten it). */
  spanExportDelayMs?: number;
}

export interface InProcessRequest {
  dialect: Dialect;
  route: RouteName;
  body: Record<string, unknown>;
  headers?: IncomingHttpHeaders;
  signal?: AbortSignal;
  /** A side call made for this request (see cost/side-cost.ts), and why (`embedding`). */
  sideCallOf?: { parent: RequestContext; purpose: string };
}

const NO_REPLY: Reply = { kind: 'json', status: 204, headers: {}, body: new Uint8Array() };

/**
 * The gateway without HTTP: config → upstream pools → one composed pipeline. The HTTP server
 * and in-process callers (library use, batch jobs, the summariser) all enter through `handle`.
 */
export class Gateway {
  readonly config: Config;
  readonly log: Logger;
  readonly router: UpstreamRouter;
  readonly pools: UpstreamPools;
  readonly #pipeline: (ctx: RequestContext) => Promise<Reply>;
  /** Everything after auth: in-process calls made on a caller's behalf (summaries) enter here. */
  readonly #afterAuth: (ctx: RequestContext) => Promise<Reply>;
  readonly economy: TokenEconomy;
  readonly flow: FlowControl;
  readonly #closers: Array<() => Promise<void>> = [];

  readonly backend: Backend;
  readonly cache: ExactCache;

  readonly semantic: SemanticCacheHandle | undefined;
  /** Scores sent to `POST /v1/feedback`, in a ledger shared like the usage ledger. */
  readonly feedback: FeedbackBook;
  /** Sends feedback scores to Langfuse when it is configured (LANGFUSE_* variables). */
  readonly langfuseScores: LangfuseScores | undefined;
  /** Metrics, traces, request logs, Langfuse (src/observe/). */
  readonly observability: Observability;

  private constructor(opts: GatewayOptions, backend: Backend, semantic: SemanticCacheHandle | undefined) {
    const { config, log } = opts;
    this.config = config;
    this.log = log;
    this.backend = backend;
    this.semantic = semantic;
    this.router = new UpstreamRouter(config);
    // During an outage every request meets the same store error: log it once per 10 s.
    const storeWarn = throttledWarn(log);
    const { circuit } = backend;
    this.pools = new UpstreamPools(
      config,
      opts.env,
      circuit && {
        circuit,
        onError: (err) => storeWarn({ err }, 'shared circuit store error; this instance decides alone'),
      },
    );
    this.cache = new ExactCache({
      store: backend.kv('exact', { maxEntries: config.cache.maxEntries, maxBytes: config.cache.maxBytes }),
      config: config.cache,
      counters: backend.counters,
      log,
    });
    // Closed in reverse: the semantic cache first (a provider embedder calls out through the
    // pools, and its index is saved while the embedder still answers), then the pools, then
    // pending cache writes, then the storage under them.
    this.#closers.push(
      () => backend.close(),
      () => this.cache.close(),
      () => this.pools.close(),
      async () => semantic?.close(),
    );
    this.observability = new Observability({
      config: config.observe,
      env: opts.env ?? process.env,
      log,
      knownModels: knownModels(config, this.router),
      queue: {
        queued: () => Object.entries(this.flow.stats().upstreams).map(([name, s]) => [name, s.queued]),
      },
      exportDelayMs: opts.spanExportDelayMs,
    });
    // Closed after the ledger flush below: the last requests' spans still go out.
    this.#closers.push(() => this.observability.close());
    const observe = this.observability.enabled ? this.observability : undefined;
    const { langfuse } = this.observability;
    this.langfuseScores = langfuse
      ? new LangfuseScores({ config: langfuse, usage: () => this.economy.ledger.store, log })
      : undefined;
    const scores = this.langfuseScores;
    this.feedback = new FeedbackBook(backend.ledger<FeedbackRecord>('feedback'), {
      onFeedback:
        scores || opts.onFeedback
          ? (feedback) => {
              scores?.onFeedback(feedback);
              opts.onFeedback?.(feedback);
            }
          : undefined,
      onHookError: (err) => log.warn({ err }, 'feedback hook failed; the score is stored'),
    });
    this.economy = createTokenEconomy(config, {
      backend,
      runAfterAuth: (ctx) => this.#afterAuth(ctx),
      logger: log,
      onStoreError: (err) =>
        storeWarn(
          { err, failMode: config.store.failMode.budgets },
          'budget store error; requests with a budget are refused unless store.failMode.budgets is open',
        ),
      callObservers: [observe?.observer, scores?.observer].filter((o): o is CallObserver => o !== undefined),
    });
    this.#closers.push(
      () => this.economy.close(),
      () => this.economy.flush(),
    );
    const { stages: economy } = this.economy;
    this.flow = createFlowControl(config.flow, {
      store: backend.counters,
      upstreamOf: (ctx) =>
        this.router.primaryUpstream(UPSTREAM_KIND_OF[ctx.dialect], ctx.model) ?? 'unrouted',
      onStoreError: (err) =>
        storeWarn(
          { err, failMode: config.store.failMode.rateLimits },
          'rate-limit store error; requests are refused unless store.failMode.rateLimits is open',
        ),
      onStoreUnavailable: config.store.failMode.rateLimits,
    });
    const afterAuth: Array<Stage | false | undefined> = [
      economy.record,
      this.flow.callerRateLimitStage,
      economy.budget,
      config.cache.enabled && exactCacheStage(this.cache),
      config.cache.enabled &&
        semantic !== undefined &&
        semanticCacheStage({
          cache: semantic.cache,
          config: config.semantic,
          resolve: (key, ctx) => cachedReply(this.cache, key, ctx),
          onError: (what, err) => log.warn({ err, what }, 'semantic cache error; treated as a miss'),
        }),
      ...economy.shape,
      config.cache.enabled &&
        config.cache.singleFlight &&
        singleFlightStage({
          // Several instances on Redis: one upstream call per request across all of them.
          shared: backend.leases && {
            leases: backend.leases,
            storedReply: (key, ctx) => cachedReply(this.cache, key, ctx),
            leaseMs: config.cache.flightLeaseMs,
            onError: (err) =>
              storeWarn({ err }, 'single-flight lease store error; this instance goes on alone'),
          },
        }),
      this.flow.upstreamRateLimitStage,
      this.flow.queueStage,
      upstreamStage({
        router: this.router,
        pools: this.pools,
        usage: this.economy.usageReader,
        translation: config.translation,
        onAttemptFailed: (ctx, info) => log.warn({ reqId: ctx.id, ...info }, 'upstream attempt failed'),
      }),
    ];
    this.#afterAuth = compose(afterAuth.filter((s): s is Stage => typeof s === 'function'));
    this.#pipeline = compose(
      [
        observe?.stage,
        this.flow.shutdownStage,
        economy.auth,
        (ctx: RequestContext) => this.#afterAuth(ctx),
      ].filter((s): s is Stage => typeof s === 'function'),
    );
  }

  /** Open storage and build the pipeline. */
  static async create(opts: GatewayOptions): Promise<Gateway> {
    const { config, log } = opts;
    const backend = await openBackend({
      dataDir: config.dataDir,
      redisUrl: config.redisUrl,
      redisKeyPrefix: config.store.keyPrefix,
      memory: opts.memory,
      connectTimeoutMs: config.store.connectTimeoutMs,
      commandTimeoutMs: config.store.commandTimeoutMs,
      databaseUrl: opts.memory ? undefined : config.databaseUrl,
      database: config.database,
    });
    let gateway: Gateway | undefined;
    const semantic =
      config.cache.enabled && config.semantic.enabled
        ? await createSemanticCache(config.semantic, {
            dataDir: opts.memory ? undefined : config.dataDir,
            // A provider embedder goes through the gateway's own upstreams (pools, retries, keys).
            embeddingsCall: async (texts, model) => {
              const parent = sideCallParent();
              const res = await gateway!.call(
                'openai',
                'embeddings',
                { model, input: texts },
                {},
                parent && { parent, purpose: 'embedding' },
              );
              if (res.status !== 200) throw new Error(`embeddings call failed with ${res.status}`);
              return (res.body as { data: Array<{ embedding: number[] }> }).data.map((d) => d.embedding);
            },
            onError: (what, err) => log.warn({ err, what }, 'semantic cache background error'),
            // On Redis, every instance's index follows one stream of inserts and deletions.
            shared:
              backend.kind === 'redis' && config.redisUrl
                ? { url: config.redisUrl, keyPrefix: config.store.keyPrefix }
                : undefined,
          })
        : undefined;
    gateway = new Gateway(opts, backend, semantic);
    return gateway;
  }

  /**
   * Only the auth stage, for routes outside the pipeline that must still know and admit the
   * caller (token counting): 401 where a pipeline call would get one.
   */
  async authenticate(ctx: RequestContext): Promise<void> {
    await this.economy.stages.auth(ctx, async () => NO_REPLY);
  }

  /** Run a prepared context through the pipeline. */
  handle(ctx: RequestContext): Promise<Reply> {
    return this.#pipeline(ctx);
  }

  /** Library entry: validate nothing, build a context and run it (callers pass well-formed bodies). */
  request(req: InProcessRequest): { ctx: RequestContext; reply: Promise<Reply> } {
    const headers = req.headers ?? {};
    const timeoutMs = effectiveTimeoutMs(headers, this.config.requestTimeoutMs);
    // In-process calls get the same deadline bound the HTTP edge gives (see server/http.ts).
    const deadline = AbortSignal.timeout(timeoutMs + 25);
    const ctx = createContext({
      dialect: req.dialect,
      route: req.route,
      headers,
      body: req.body,
      signal: req.signal ? AbortSignal.any([req.signal, deadline]) : deadline,
      timeoutMs,
    });
    if (req.sideCallOf) {
      ctx.parent = req.sideCallOf.parent;
      ctx.purpose = req.sideCallOf.purpose;
    }
    return { ctx, reply: this.handle(ctx) };
  }

  /**
   * Library call: validate a body as the HTTP edge would, run it through the whole pipeline
   * (caches, budgets, limits) and return the status and parsed JSON body, errors included in
   * the dialect's shape. Streams are turned off: use `request` for a stream.
   */
  async call(
    dialect: Dialect,
    route: RouteName,
    body: Record<string, unknown>,
    headers: IncomingHttpHeaders = {},
    sideCallOf?: InProcessRequest['sideCallOf'],
  ): Promise<{ status: number; body: unknown; headers: Record<string, string> }> {
    let ctx: RequestContext | undefined;
    try {
      const valid = validateBody(route, route === 'embeddings' ? body : { ...body, stream: false });
      const started = this.request({
        dialect,
        route,
        body: valid,
        headers,
        ...(sideCallOf ? { sideCallOf } : {}),
      });
      ctx = started.ctx;
      const r = await started.reply;
      if (r.kind !== 'json') throw new SluiceError('internal', 'a non-streaming call produced a stream');
      return {
        status: r.status,
        body: JSON.parse(Buffer.from(r.body).toString('utf8')),
        // Made writable as the HTTP edge writes them: a library user may pass them on.
        headers: safeHeaders(r.headers, ctx.responseHeaders, { 'x-request-id': ctx.id }),
      };
    } catch (e) {
      const err = isSluiceError(e) ? e : new SluiceError('internal', 'internal gateway error', { cause: e });
      if (err.code === 'internal') this.log.error({ err: e }, 'in-process call failed');
      // The headers the HTTP edge would send with this error (server/http.ts writeError).
      const replyHeaders: Record<string, string> = { ...ctx?.responseHeaders, ...errorHeaders(err) };
      if (ctx) replyHeaders['x-request-id'] = ctx.id;
      return { status: err.status, body: DIALECTS[dialect].errorBody(err), headers: replyHeaders };
    }
  }

  /**
   * `/v1/stats`: the seed's shape (requests, hits per layer, hit rate as a ratio of counts),
   * counted from the shared ledger over `range` (default 24h), so every instance on one store
   * gives the same totals. The rest is this process's own (`instanceStats`): `instance_local` says so.
   */
  async stats(range: string | null = null) {
    const window = statsWindow(range, '24h');
    const { ledger } = this.economy;
    await ledger.recorded();
    const where = {
      range: window.range,
      since: new Date(window.since).toISOString(),
      until: new Date(window.until).toISOString(),
      source: 'ledger',
      backend: this.backend.kind,
    };
    try {
      const totals = await ledgerTotals(ledger.store, window.since, window.until);
      return { ...totals, window: where, ...this.instanceStats() };
    } catch (err) {
      // The shared store is down: this instance's own state is what can still be told.
      this.log.warn({ err }, 'stats: the ledger could not be read');
      return { window: { ...where, error: 'the ledger could not be read' }, ...this.instanceStats() };
    }
  }

  /** This process's own state (caches' counters, queues, limits, breakers, store health): never shared. */
  instanceStats() {
    return {
      instance_local: ['cache', 'semantic', 'prompt_cache', 'flow', 'circuits', 'store'],
      cache: this.cache.stats(),
      semantic: this.semantic && { ...this.semantic.cache.stats(), shared: this.semantic.log?.stats() },
      ...this.economy.stats(),
      flow: this.flow.stats(),
      /** Circuit breaker per upstream: state, consecutive failures, when it opened. */
      circuits: this.pools.circuits(),
      store: this.backend.stats?.(),
    };
  }

  /** The dashboard's data: per-bucket and per-day series over `range` (default 1h), from the ledger. */
  async statsSeries(range: string | null = null): Promise<StatsSeries> {
    const window = statsWindow(range, '1h');
    await this.economy.ledger.recorded();
    return statsSeries(
      { usage: this.economy.ledger.store, feedback: this.feedback, budgets: this.economy.budgets },
      window,
    );
  }

  async close(): Promise<void> {
    for (const close of this.#closers.reverse()) {
      try {
        await close();
      } catch (e) {
        this.log.warn({ err: e }, 'error while closing');
      }
    }
  }
}

/** Model names that always get their own metrics label: the configured ones. */
function knownModels(config: Config, router: UpstreamRouter): string[] {
  const names = new Set(router.listedModels().map((m) => m.id));
  for (const [model, fallbacks] of Object.entries(config.fallbacks)) {
    names.add(model);
    for (const f of fallbacks) names.add(f);
  }
  return [...names];
}
