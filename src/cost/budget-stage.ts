/**
 * The budget stage: reserve the call's maximum cost before anything else runs, settle it to
 * the actual cost when the reply is over (JSON at once, streams at their end, abandoned
 * streams after a grace period), release it when the call fails.
 */
import { DIALECTS } from '../dialect/index.js';
import { SluiceError } from '../errors.js';
import type { RequestContext, Stage } from '../pipeline/types.js';
import { isStoreUnavailable, storeRefusal } from '../store/errors.js';
import { encodingFor, promptTokens } from '../tokens/count.js';
import type { Budgets, Reservation } from './budget.js';
import { type CacheWriteExposure, costOf, maxCostUsd, toNano } from './cost.js';
import type { PriceBook } from './prices.js';
import { onReplyDone } from './reply-done.js';
import { modelUsed, resolveBilledUsage } from './usage-resolve.js';

export interface BudgetStageDeps {
  budgets: Budgets;
  prices: PriceBook;
  /** tokens.estimateFactor */
  estimateFactor?: number;
  /**
   * The model to price the reservation with. Routing runs later, so for an alias such as
   * `auto` pass the dearest model it may resolve to (see `route/complexity.ts` `estimateModelFor`).
   */
  estimateModel?: (ctx: RequestContext) => string;
  /** The prompt-cache stage will add Anthropic breakpoints with this TTL (cache writes cost more than input). */
  insertsBreakpoints?: '5m' | '1h';
  logger?: { warn(obj: object, msg?: string): void };
  /**
   * When the budget counters cannot be reached: `closed` (default) refuses with 503
   * `store_unavailable` and a Retry-After, so an outage cannot overspend; `open` lets the call
   * through unbudgeted. Either way the failure goes to `onStoreError`.
   */
  onStoreUnavailable?: 'closed' | 'open';
  onStoreError?: (error: unknown) => void;
}

export function budgetStage(deps: BudgetStageDeps): Stage {
  const { budgets, prices } = deps;
  const config = budgets.config;
  return async (ctx, next) => {
    const key = ctx.virtualKey;
    const scopes = budgets.scopesFor(ctx.caller, key);
    if (scopes.length === 0) return next();

    const model = deps.estimateModel?.(ctx) ?? ctx.model;
    const pricing = prices.lookup(model);
    let amountNano = 0;
    if (!pricing) {
      if (config.unpriced === 'refuse') {
        throw new SluiceError(
          'forbidden',
          `Model '${model}' has no known price, so your budget cannot be enforced; ask the operator to add it to cost.prices.`,
          { param: 'model' },
        );
      }
    } else {
      const prompt = promptTokens(ctx, model, deps.estimateFactor).tokens;
      const maxOut =
        ctx.route === 'embeddings'
          ? 0
          : reserveOutputTokens(ctx, model, config.defaultMaxOutputTokens, config.capOutputTokens);
      amountNano = toNano(
        maxCostUsd(pricing, prompt, maxOut, cacheWriteExposure(ctx, deps.insertsBreakpoints)),
      );
    }
    // An unpriced call reserves nothing but is still refused once a budget is used up.
    let reservation: Reservation;
    try {
      reservation = await budgets.reserve(scopes, Math.max(amountNano, pricing ? 0 : 1));
    } catch (error) {
      if (!isStoreUnavailable(error)) throw error;
      deps.onStoreError?.(error);
      if (deps.onStoreUnavailable === 'open') return next();
      throw storeRefusal('Budgets', error);
    }
    // A stream's head goes before its cost is known: it warns when its maximum cost could take
    // a budget past warnAt. A JSON reply is settled before its head (below), so it warns on its
    // actual cost; until then (and for a call that fails) the spend before the call counts.
    setWarning(
      ctx,
      ctx.stream ? reservation.warning(reservation.amountNano, 'max_cost') : reservation.warning(),
    );

    let reply: Awaited<ReturnType<typeof next>>;
    try {
      reply = await next();
    } catch (error) {
      await settleQuietly(reservation, 0, deps.logger);
      throw error;
    }
    return onReplyDone(
      ctx,
      reply,
      (outcome) => {
        const { billed } = resolveBilledUsage(ctx, reply, outcome, deps.estimateFactor);
        let actual = 0;
        if (billed) {
          const cost = costOf(billed, prices.lookup(modelUsed(ctx)));
          actual = cost.unpriced ? 0 : toNano(cost.totalUsd);
        }
        // JSON: this runs before the edge writes the head, so the call that crosses warnAt says so.
        if (reply.kind === 'json') setWarning(ctx, reservation.warning(actual, 'actual'));
        void settleQuietly(reservation, actual, deps.logger);
      },
      config.abortGraceMs,
    );
  };
}

function setWarning(ctx: RequestContext, warning: string | undefined): void {
  if (warning) ctx.responseHeaders['x-sluice-budget-warning'] = warning;
  else delete ctx.responseHeaders['x-sluice-budget-warning'];
}

async function settleQuietly(
  reservation: Reservation,
  actualNano: number,
  logger: BudgetStageDeps['logger'],
) {
  try {
    await reservation.settle(actualNano);
  } catch (err) {
    // The reservation stays held: the caller is charged its upper bound, never less.
    logger?.warn({ err }, 'budget settlement failed');
  }
}

/**
 * Output tokens the reservation covers: the request's own cap (`max_completion_tokens`,
 * `max_tokens`; times `n` choices; the Responses API's `max_output_tokens`), else the default, which is then written into the request
 * so the provider cannot produce more than was reserved.
 */
function reserveOutputTokens(ctx: RequestContext, model: string, fallback: number, cap: boolean): number {
  const spec = DIALECTS[ctx.dialect];
  const choices =
    (typeof ctx.body.n === 'number' && ctx.body.n > 1 ? Math.floor(ctx.body.n) : 1) * legacyPromptCount(ctx);
  const asked = spec.maxOutputTokens(ctx.body);
  if (asked !== undefined && asked > 0) return asked * choices;
  if (!cap) return fallback * choices;
  // A copy: `ctx.clientBody` stays the request as sent, which the exact cache keys on, so a
  // budgeted and an unbudgeted caller share entries. A model the tokenizer knows is one of
  // OpenAI's own (its reasoning models accept only max_completion_tokens); legacy
  // completions know only max_tokens.
  const ownModel = ctx.route !== 'completions' && encodingFor(model) !== undefined;
  ctx.body = spec.withMaxOutputTokens(ctx.body, fallback, ownModel);
  // The dialect may raise the cap to its minimum (the Responses API refuses one below 16).
  return (spec.maxOutputTokens(ctx.body) ?? fallback) * choices;
}

/** Legacy completions answer each prompt of a list (n choices each); one token-id list is one prompt. */
function legacyPromptCount(ctx: RequestContext): number {
  const prompt = ctx.body.prompt;
  if (ctx.route !== 'completions' || !Array.isArray(prompt) || prompt.length === 0) return 1;
  return prompt.every((p) => typeof p === 'number') ? 1 : prompt.length;
}

/** Whether cache writes priced above plain input (Anthropic's) may be billed on this request. */
function cacheWriteExposure(ctx: RequestContext, inserts: '5m' | '1h' | undefined): CacheWriteExposure {
  if (!DIALECTS[ctx.dialect].promptCache.writesBilledAboveInput) return 'none';
  const found = findCacheControl(ctx.body);
  if (found === '1h' || inserts === '1h') return '1h';
  return found === '5m' || inserts ? '5m' : 'none';
}

function findCacheControl(body: Record<string, unknown>): '5m' | '1h' | undefined {
  let seen: '5m' | '1h' | undefined;
  const visit = (cc: unknown) => {
    if (!cc || typeof cc !== 'object') return;
    if ((cc as { ttl?: unknown }).ttl === '1h') seen = '1h';
    else seen ??= '5m';
  };
  visit(body.cache_control);
  const blocks = (v: unknown) => {
    if (Array.isArray(v))
      for (const b of v)
        if (b && typeof b === 'object') visit((b as { cache_control?: unknown }).cache_control);
  };
  blocks(body.system);
  blocks(body.tools);
  if (Array.isArray(body.messages))
    for (const m of body.messages as Array<{ content?: unknown }>) blocks(m?.content);
  return seen;
}
