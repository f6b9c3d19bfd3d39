/**
 * The usage a call is billed for, decided once the reply is over. The provider's own usage
 * always wins; local counts (flagged `estimated`) fill in only when it reported nothing.
 */
import type { Reply, RequestContext } from '../pipeline/types.js';
import { countText, promptTokens } from '../tokens/count.js';
import { blockText } from '../tokens/messages.js';
import type { UsageDetail } from '../tokens/usage.js';
import type { DoneOutcome } from './reply-done.js';

/** The model that answered: the upstream stage names it in `x-sluice-model` (fallbacks may differ from ctx.model). */
export const modelUsed = (ctx: RequestContext): string => ctx.responseHeaders['x-sluice-model'] || ctx.model;

export const isCacheHit = (ctx: RequestContext): boolean => ctx.cache === 'exact' || ctx.cache === 'semantic';

export interface BilledUsage {
  /** Tokens the provider billed for this call (undefined: nothing billed, e.g. an error reply). */
  billed?: UsageDetail;
  /** Usage of the stored answer on a gateway cache hit (what the call would have cost). */
  avoided?: UsageDetail;
}

export function resolveBilledUsage(
  ctx: RequestContext,
  reply: Reply | undefined,
  outcome: DoneOutcome | undefined,
  estimateFactor?: number,
): BilledUsage {
  if (isCacheHit(ctx)) return { avoided: ctx.usage };
  if (!reply || reply.status >= 400) return {};
  const model = modelUsed(ctx);
  const usage = ctx.usage as UsageDetail | undefined;
  if (usage && !(usage.estimated && usage.inputTokens === 0)) return { billed: usage };
  // The provider reported nothing: count locally and say so.
  const input = promptTokens(ctx, model, estimateFactor).tokens;
  let output = usage?.outputTokens ?? 0;
  if (!usage && reply.kind === 'json' && outcome?.completed !== false) {
    output = countText(replyText(ctx.dialect, reply.parsed), model, estimateFactor).tokens;
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

/** Generated text of a JSON reply in either dialect (for the local fallback count). */
export function replyText(dialect: 'openai' | 'anthropic', parsed: unknown): string {
  const p = parsed as Record<string, unknown> | undefined;
  if (!p || typeof p !== 'object') return '';
  if (dialect === 'anthropic') {
    return Array.isArray(p.content)
      ? (p.content as Array<Record<string, unknown>>).map(blockText).join('\n')
      : '';
  }
  if (!Array.isArray(p.choices)) return '';
  let out = '';
  for (const c of p.choices as Array<{ message?: Record<string, unknown> }>) {
    const m = c?.message;
    if (!m) continue;
    if (typeof m.content === 'string') out += m.content;
    if (Array.isArray(m.tool_calls)) {
      for (const t of m.tool_calls as Array<{ function?: { name?: string; arguments?: string } }>) {
        out += (t.function?.name ?? '') + (t.function?.arguments ?? '');
      }
    }
  }
  return out;
}
