/**
 * The usage a call is billed for, decided once the reply is over. The provider's own usage
 * always wins; local counts (flagged `estimated`) fill in only when it reported nothing.
 */
import type { Dialect, Reply, RequestContext, Usage } from '../pipeline/types.js';
import { countText, promptTokens } from '../tokens/count.js';
import { blockText } from '../tokens/messages.js';
import type { UsageDetail } from '../tokens/usage.js';
import type { DoneOutcome } from './reply-done.js';

/** The model that answered: the upstream stage names it in `x-sluice-model` (fallbacks may differ from ctx.model). */
export const modelUsed = (ctx: RequestContext): string => ctx.responseHeaders['x-sluice-model'] || ctx.model;

/**
 * Notes the cache stages leave (see cache/exact-stage.ts, cache/single-flight.ts): on a hit
 * `ctx.usage` is zero and the stored answer's usage is under SAVED_USAGE_NOTE; a single-flight
 * follower shares its leader's answer and pays nothing.
 */
export const SAVED_USAGE_NOTE = 'cache.savedUsage';
export const FOLLOWER_NOTE = 'flight.follower';

export const isCacheHit = (ctx: RequestContext): boolean => ctx.cache === 'exact' || ctx.cache === 'semantic';

/** The call was answered without paying the provider: a gateway cache hit or a shared in-flight call. */
export const isFree = (ctx: RequestContext): boolean =>
  isCacheHit(ctx) || ctx.notes.get(FOLLOWER_NOTE) === true;

const hasTokens = (u: Usage | undefined): u is Usage =>
  !!u && u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens + u.outputTokens > 0;

export interface BilledUsage {
  /** Tokens the provider billed for this call (undefined: nothing billed, e.g. an error reply). */
  billed?: UsageDetail;
  /** On a cache hit or shared flight: usage of the answer reused (what the call would have cost), if known. */
  avoided?: UsageDetail;
}

export function resolveBilledUsage(
  ctx: RequestContext,
  reply: Reply | undefined,
  outcome: DoneOutcome | undefined,
  estimateFactor?: number,
): BilledUsage {
  if (isFree(ctx)) {
    const saved = ctx.notes.get(SAVED_USAGE_NOTE) as Usage | undefined;
    return { avoided: hasTokens(saved) ? saved : hasTokens(ctx.usage) ? ctx.usage : undefined };
  }
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

/** Generated text of a JSON reply in any dialect (for the local fallback count). */
export function replyText(dialect: Dialect, parsed: unknown): string {
  const p = parsed as Record<string, unknown> | undefined;
  if (!p || typeof p !== 'object') return '';
  if (dialect === 'responses') return responsesOutputText(p.output);
  if (dialect === 'anthropic') {
    return Array.isArray(p.content)
      ? (p.content as Array<Record<string, unknown>>).map(blockText).join('\n')
      : '';
  }
  if (!Array.isArray(p.choices)) return '';
  let out = '';
  for (const c of p.choices as Array<{ message?: Record<string, unknown>; text?: unknown }>) {
    // Legacy completions answer with `choices[].text`.
    if (typeof c?.text === 'string') out += c.text;
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

/** Text of Responses output items: message parts, function calls, reasoning summaries. */
function responsesOutputText(output: unknown): string {
  if (!Array.isArray(output)) return '';
  let out = '';
  for (const item of output as Array<Record<string, unknown>>) {
    if (item?.type === 'function_call') out += String(item.name ?? '') + String(item.arguments ?? '');
    const parts =
      item?.type === 'message' ? item.content : item?.type === 'reasoning' ? item.summary : undefined;
    if (!Array.isArray(parts)) continue;
    for (const part of parts as Array<Record<string, unknown>>) {
      if (typeof part?.text === 'string') out += part.text;
      else if (typeof part?.refusal === 'string') out += part.refusal;
    }
  }
  return out;
}
