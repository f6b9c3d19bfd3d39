import type { PriceBook } from '../cost/prices.js';
import type { RequestContext, Stage } from '../pipeline/types.js';
import { promptTokens } from '../tokens/count.js';
import { lastUserText } from '../dialect/messages.js';
import type { ComplexityRouter, RouteDecision } from './complexity.js';

/** `ctx.notes` key holding the RouteDecision of an aliased request. */
export const ROUTE_NOTE = 'route.decision';

/**
 * Resolve a model alias (e.g. `auto`) to its cheap or strong model before the request goes
 * upstream. Sets `ctx.model` and the body's `model`; says why in `x-sluice-route`. The model
 * that finally answered is reported by the upstream stage in `x-sluice-model`.
 */
export function complexityRouteStage(
  router: ComplexityRouter,
  options: { estimateFactor?: number } = {},
): Stage {
  return async (ctx, next) => {
    const decision = routeRequest(router, ctx, options.estimateFactor);
    if (decision) {
      ctx.model = decision.model;
      ctx.body.model = decision.model;
      ctx.notes.set(ROUTE_NOTE, decision);
      ctx.responseHeaders['x-sluice-route'] = `${decision.alias}->${decision.model}; rule=${decision.rule}`;
      ctx.responseHeaders['x-sluice-model'] = decision.model;
    }
    return next();
  };
}

export function routeRequest(
  router: ComplexityRouter,
  ctx: RequestContext,
  estimateFactor?: number,
): RouteDecision | undefined {
  if (!router.isAlias(ctx.model)) return undefined;
  const targets = router.targets(ctx.model)!;
  return router.decide(ctx.model, {
    text: lastUserText(ctx.body).trim(),
    contextTokens: () => promptTokens(ctx, targets.strong, estimateFactor).tokens,
    hasTools: Array.isArray(ctx.body.tools) && ctx.body.tools.length > 0,
  });
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
