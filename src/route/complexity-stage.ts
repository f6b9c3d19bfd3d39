import type { PriceBook } from '../cost/prices.js';
import type { RequestContext, Stage } from '../pipeline/types.js';
import { promptTokens } from '../tokens/count.js';
import { lastUserText } from '../dialect/messages.js';
import type { ComplexityRouter, RouteDecision, RouteSignals } from './complexity.js';
import type { SemanticTierScorer } from './semantic-tier.js';

/**
 * Resolve a model alias (e.g. `auto`) to its cheap or strong model before the request goes
 * upstream. Sets `ctx.model` and the body's `model`; says why in `x-sluice-route`. The model
 * that finally answered is reported by the upstream stage in `x-sluice-model`.
 */
export interface RouteStageOptions {
  estimateFactor?: number;
  /** One scorer per alias in `mode: semantic` (see semantic-tier.ts). */
  semantic?: ReadonlyMap<string, SemanticRouting>;
  /** An embedder failure (logged; the request goes to the alias default). */
  onError?: (error: unknown) => void;
}

export interface SemanticRouting {
  scorer: Pick<SemanticTierScorer, 'score'>;
  timeoutMs: number;
}

export function complexityRouteStage(router: ComplexityRouter, options: RouteStageOptions = {}): Stage {
  const route: Stage = async (ctx, next) => {
    const decision = await routeRequest(router, ctx, options);
    if (decision) {
      ctx.model = decision.model;
      // A copy: `clientBody` (and the raw bytes the upstream would otherwise get) keep the alias.
      ctx.body = { ...ctx.body, model: decision.model };
      ctx.responseHeaders['x-sluice-route'] = routeHeader(decision);
      ctx.responseHeaders['x-sluice-model'] = decision.model;
    }
    return next();
  };
  // Most requests name a real model: one lookup, and no async frame of this stage's own.
  return (ctx, next) => (router.isAlias(ctx.model) ? route(ctx, next) : next());
}

/** `auto->gpt-4o; rule=semantic; score=0.0412` (the edge makes any non-ASCII alias name safe). */
export function routeHeader(decision: RouteDecision): string {
  const score = decision.score === undefined ? '' : `; score=${decision.score.toFixed(4)}`;
  return `${decision.alias}->${decision.model}; rule=${decision.rule}${score}`;
}

/**
 * Rules first (in semantic mode they are overrides); then, for a semantic alias, the prompt's
 * meaning; else the alias default.
 */
export async function routeRequest(
  router: ComplexityRouter,
  ctx: RequestContext,
  options: RouteStageOptions = {},
): Promise<RouteDecision | undefined> {
  if (!router.isAlias(ctx.model)) return undefined;
  const alias = ctx.model;
  const targets = router.targets(alias)!;
  const signals: RouteSignals = {
    text: lastUserText(ctx.body).trim(),
    contextTokens: () => promptTokens(ctx, targets.strong, options.estimateFactor).tokens,
    hasTools: Array.isArray(ctx.body.tools) && ctx.body.tools.length > 0,
  };
  const byRule = router.matchRule(alias, signals);
  if (byRule) return byRule;
  const semantic = options.semantic?.get(alias);
  if (semantic === undefined || signals.text === '') return router.choose(alias, undefined, 'default');
  try {
    const tier = await withTimeout(semantic.scorer.score(signals.text), semantic.timeoutMs);
    if (tier === undefined) return router.choose(alias, undefined, 'semantic-timeout');
    return router.choose(alias, tier.use, 'semantic', tier.score);
  } catch (error) {
    options.onError?.(error);
    return router.choose(alias, undefined, 'semantic-error');
  }
}

/** The promise's value, or undefined when it takes longer than `ms` (it is left to finish). */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    // A late failure must not become an unhandled rejection.
    promise.catch(() => {});
  }
}

/**
 * For the budget stage, which runs before routing: an alias is priced as the dearer of its two
 * models (by output price, else the strong one), so the reservation is an upper bound
 * whichever way routing goes.
 */
export function estimateModelFor(
  router: ComplexityRouter,
  prices?: PriceBook,
): (ctx: RequestContext) => string {
  return (ctx) => {
    const t = router.targets(ctx.model);
    if (!t) return ctx.model;
    const cheap = prices?.lookup(t.cheap)?.ratesFor(0);
    const strong = prices?.lookup(t.strong)?.ratesFor(0);
    return cheap && strong && cheap.output > strong.output ? t.cheap : t.strong;
  };
}
