/**
 * The token economy assembled from config and storage, once at boot: callers, prices, ledger,
 * budgets, shaping and routing, as stages plus the admin operations. The gateway places the
 * stages in its pipeline:
 *
 *   auth → record → budget → exact cache → semantic cache → ...shape → single-flight → queue → upstream
 *
 * and gives the upstream stage `usageReader`.
 */
import { createKey, getKey, listKeys, revokeKey } from '../auth/admin.js';
import type { AuthConfig } from '../auth/config.js';
import { KeyStore } from '../auth/keys.js';
import { authStage } from '../auth/stage.js';
import type { Reply, RequestContext, Stage } from '../pipeline/types.js';
import { ComplexityRouter } from '../route/complexity.js';
import { complexityRouteStage, estimateModelFor, type SemanticRouting } from '../route/complexity-stage.js';
import type { RoutingConfig } from '../route/config.js';
import { SemanticTierScorer } from '../route/semantic-tier.js';
import type { Embedder } from '../embed/types.js';
import { UseLiteEmbedder } from '../embed/use-lite.js';
import type { CounterStore, KvLimits, KvStore, LedgerStore } from '../store/types.js';
import { compressionStage } from '../tokens/compress-stage.js';
import type { TokensConfig } from '../tokens/config.js';
import { promptCacheStage } from '../tokens/prompt-cache-stage.js';
import { PromptCacheMonitor } from '../tokens/prompt-cache-monitor.js';
import { pipelineSummariser } from '../tokens/summariser.js';
import { createUsageReader } from '../tokens/usage-reader.js';
import { Budgets } from './budget.js';
import { budgetStage } from './budget-stage.js';
import type { CostConfig } from './config.js';
import { Ledger, type LedgerRow } from './ledger.js';
import { PriceBook } from './prices.js';
import { type CallObserver, recordStage } from './record-stage.js';
import { usageQueryFrom, usageReport } from './report.js';

export interface EconomyConfig {
  cost: CostConfig;
  /** `store.failMode.budgets`: what budgets do while their store is away (default closed). */
  store?: { failMode: { budgets: 'closed' | 'open' } };
  tokens: TokensConfig;
  routing: RoutingConfig;
  auth: AuthConfig;
}

export interface EconomyDeps {
  /** The storage backend picked at boot (store/index.ts `openBackend`). */
  backend: {
    kv(namespace: string, limits?: KvLimits): KvStore;
    /** Records that must last (virtual keys): PostgreSQL when configured. */
    durableKv(namespace: string): KvStore;
    readonly counters: CounterStore;
    ledger<Row extends { ts: number }>(name: string): LedgerStore<Row>;
  };
  /**
   * Runs a context through the pipeline after auth; used by the compression summariser so its
   * call is budgeted and recorded like any other. Late-bound: the pipeline contains these stages.
   */
  runAfterAuth: (ctx: RequestContext) => Promise<Reply>;
  logger?: { warn(obj: object, msg?: string): void };
  /** Store failures the budget stage met (the gateway logs them, rate-limited). */
  onStoreError?: (error: unknown) => void;
  /**
   * The embedder for semantic `auto` routing. Made (USE-lite in a worker thread) only when some
   * alias has `mode: semantic`, and then owned and closed here; tests may pass their own.
   */
  routingEmbedder?: () => Embedder;
  /** Told of every finished call with its ledger row (observability). */
  callObservers?: readonly CallObserver[];
}

export type TokenEconomy = ReturnType<typeof createTokenEconomy>;

export function createTokenEconomy(config: EconomyConfig, deps: EconomyDeps) {
  const { backend, logger } = deps;
  const estimateFactor = config.tokens.estimateFactor;
  const prices = new PriceBook({ overrides: config.cost.prices });
  const keys = new KeyStore(backend.durableKv('auth-keys'), config.auth);
  const ledger = new Ledger(backend.ledger<LedgerRow>('usage'), logger);
  const budgets = new Budgets(backend.counters, config.cost.budgets, { logger });
  const router = new ComplexityRouter(config.routing);
  const estimateModel = estimateModelFor(router, prices);
  const semanticRouting = createSemanticRouting(router, deps);
  const monitor = new PromptCacheMonitor(config.tokens.promptCache.lowHitRate, { logger });
  const summarise = pipelineSummariser({
    run: (ctx) => deps.runAfterAuth(ctx),
    maxTokens: config.tokens.compression.maxSummaryTokens,
  });
  const pc = config.tokens.promptCache;

  const stages = {
    auth: authStage({ keys, config: config.auth }),
    record: recordStage({
      ledger,
      prices,
      estimateFactor,
      abortGraceMs: config.cost.budgets.abortGraceMs,
      observers: [monitor.observer, ...(deps.callObservers ?? [])],
    }),
    budget: budgetStage({
      budgets,
      prices,
      estimateFactor,
      estimateModel,
      insertsBreakpoints: pc.anthropicBreakpoints ? pc.ttl : undefined,
      logger,
      onStoreUnavailable: config.store?.failMode.budgets,
      onStoreError: deps.onStoreError,
    }),
    /** In order: compression (counted for the model an alias may become), routing, prompt-cache shaping. */
    shape: [
      compressionStage({
        config: config.tokens,
        summarise,
        store: backend.kv('summaries', { maxEntries: 100_000 }),
        countModel: estimateModel,
        logger,
      }),
      complexityRouteStage(router, {
        estimateFactor,
        semantic: semanticRouting?.byAlias,
        onError: (err) => logger?.warn({ err }, 'semantic routing failed; the alias default was used'),
      }),
      promptCacheStage(pc, { estimateFactor }),
    ] as Stage[],
  };

  return {
    prices,
    keys,
    ledger,
    budgets,
    router,
    promptCacheMonitor: monitor,
    usageReader: createUsageReader({ requestStreamUsage: config.tokens.requestStreamUsage }),
    stages,
    /** Admin operations (HTTP `/admin/*` with SLUICE_ADMIN_KEY, and the CLI). */
    admin: {
      createKey: (body: unknown) => createKey(keys, body),
      revokeKey: (id: string) => revokeKey(keys, id),
      getKey: (id: string) => getKey(keys, id),
      listKeys: () => listKeys(keys),
      /** `GET /admin/usage?user=&team=&model=&days=N&detailed=1` */
      usage: async (params: URLSearchParams) => {
        await ledger.idle();
        return usageReport(ledger, usageQueryFrom(params));
      },
    },
    /** For `/v1/stats`: per-caller provider prompt-cache use and low-hit-rate warnings. */
    stats: () => ({ prompt_cache: monitor.stats() }),
    /** Let pending ledger writes and budget settlements land (graceful shutdown). */
    async flush(): Promise<void> {
      await Promise.all([ledger.idle(), budgets.idle()]);
    },
    /** Stop the routing embedder's worker thread, if one was started. */
    async close(): Promise<void> {
      await semanticRouting?.embedder.close();
    },
  };
}

/**
 * Scorers for the aliases in `mode: semantic`, sharing one embedder; undefined (and no
 * embedder, no worker thread, no model in memory) when no alias uses that mode. The model and
 * the exemplars are loaded at boot in the background, so the first routed request does not
 * pay for them (until then requests wait up to `semantic.timeoutMs`).
 */
function createSemanticRouting(
  router: ComplexityRouter,
  deps: EconomyDeps,
): { byAlias: Map<string, SemanticRouting>; embedder: Embedder } | undefined {
  const aliases = router.semanticAliases();
  if (aliases.length === 0) return undefined;
  const embedder = deps.routingEmbedder?.() ?? new UseLiteEmbedder();
  const byAlias = new Map<string, SemanticRouting>();
  for (const [name, alias] of aliases) {
    const { exemplars, topK, threshold, timeoutMs } = alias.semantic;
    const scorer = new SemanticTierScorer(embedder, exemplars, { topK, threshold });
    scorer
      .warm()
      .catch((err: unknown) => deps.logger?.warn({ err, alias: name }, 'semantic routing warm-up failed'));
    byAlias.set(name, { scorer, timeoutMs });
  }
  return { byAlias, embedder };
}
