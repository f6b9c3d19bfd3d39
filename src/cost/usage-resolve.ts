/**
 * The usage a call is billed for, decided once the reply is over. The provider's own usage
 * always wins; local counts (flagged `estimated`) fill in only when it reported nothing.
 */
import type { Reply, RequestContext, Usage } from '../pipeline/types.js';
import { countText, promptTokens } from '../tokens/count.js';
import { DIALECTS, hasTokens } from '../dialect/index.js';
import type { DoneOutcome } from './reply-done.js';

/** The model that answered: the upstream stage names it in `x-sluice-model` (fallbacks may differ from ctx.model). */
export const modelUsed = (ctx: RequestContext): string => ctx.responseHeaders['x-sluice-model'] || ctx.model;

/** The usage reported so far: a running stream's (`ctx.usageSoFar`), else the finished call's. */
export const liveUsage = (ctx: RequestContext): Usage | undefined => ctx.usageSoFar?.() ?? ctx.usage;

export const isCacheHit = (ctx: RequestContext): boolean => ctx.cache === 'exact' || ctx.cache === 'semantic';

/** The call was answered without paying the provider: a gateway cache hit or a shared in-flight call. */
export const isFree = (ctx: RequestContext): boolean => isCacheHit(ctx) || ctx.flightFollower === true;

export interface BilledUsage {
  /** Tokens the provider billed for this call (undefined: nothing billed, e.g. an error reply). */
  billed?: Usage;
  /** On a cache hit or shared flight: usage of the answer reused (what the call would have cost), if known. */
  avoided?: Usage;
}

export function resolveBilledUsage(
  ctx: RequestContext,
  reply: Reply | undefined,
  outcome: DoneOutcome | undefined,
  estimateFactor?: number,
  /** The usage to bill (default `ctx.usage`; a running stream's usage so far). */
  usage: Usage | undefined = ctx.usage,
): BilledUsage {
  if (isFree(ctx)) {
    const saved = ctx.savedUsage;
    return { avoided: hasTokens(saved) ? saved : hasTokens(usage) ? usage : undefined };
  }
  if (!reply || reply.status >= 400) return {};
  const model = modelUsed(ctx);
  if (usage && !(usage.estimated && usage.inputTokens === 0)) return { billed: usage };
  // The provider reported nothing: count locally and say so.
  const input = promptTokens(ctx, model, estimateFactor).tokens;
  let output = usage?.outputTokens ?? 0;
  if (!usage && reply.kind === 'json' && outcome?.completed !== false) {
    output = countText(DIALECTS[ctx.dialect].replyText(reply.parsed), model, estimateFactor).tokens;
  }
  return {
    billed: {
      inputTokens: input,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: output,
      estimated: true,
    },
  };
}
