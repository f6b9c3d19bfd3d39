/**
 * One usage normaliser for both routes and both modes. Providers count the same four kinds of
 * token differently, and getting that wrong is how gateways end up pricing cache tokens 2–7×
 * off:
 *  - OpenAI: `prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens`, so uncached input
 *    is the difference; cache writes are not billed separately.
 *  - Anthropic: `input_tokens` EXCLUDES cache reads and writes, which come as
 *    `cache_read_input_tokens` / `cache_creation_input_tokens` (split by TTL in `cache_creation`).
 * The result always splits input into uncached, cache-read and cache-write tokens.
 */
import type { Dialect, Usage } from '../pipeline/types.js';

/** Usage with the detail pricing needs beyond the four kinds. Structurally a `Usage`. */
export interface UsageDetail extends Usage {
  /** Part of `cacheWriteTokens` written with Anthropic's 1-hour TTL (priced higher than 5-minute writes). */
  cacheWrite1hTokens?: number;
  /** Reasoning tokens, already included in `outputTokens` (reported for insight only). */
  reasoningTokens?: number;
}

type Raw = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const obj = (v: unknown): Raw | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : undefined;

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
});

/** Normalise a provider `usage` object of `dialect`; undefined when there is none. */
export function normaliseUsage(dialect: Dialect, usage: unknown): UsageDetail | undefined {
  const u = obj(usage);
  if (!u) return undefined;
  return dialect === 'anthropic' ? fromAnthropic(u) : fromOpenAI(u);
}

function fromAnthropic(u: Raw): UsageDetail {
  const out: UsageDetail = {
    inputTokens: num(u.input_tokens),
    cacheReadTokens: num(u.cache_read_input_tokens),
    cacheWriteTokens: num(u.cache_creation_input_tokens),
    outputTokens: num(u.output_tokens),
  };
  const split = obj(u.cache_creation);
  if (split) {
    const oneHour = num(split.ephemeral_1h_input_tokens);
    if (out.cacheWriteTokens === 0) out.cacheWriteTokens = num(split.ephemeral_5m_input_tokens) + oneHour;
    if (oneHour > 0) out.cacheWrite1hTokens = Math.min(oneHour, out.cacheWriteTokens);
  }
  return out;
}

function fromOpenAI(u: Raw): UsageDetail {
  // Chat completions / embeddings use prompt_tokens; the Responses API uses input_tokens
  // (which, unlike Anthropic's, includes cached tokens).
  const promptTotal = u.prompt_tokens !== undefined ? num(u.prompt_tokens) : num(u.input_tokens);
  const output = u.completion_tokens !== undefined ? num(u.completion_tokens) : num(u.output_tokens);
  const inDetails = obj(u.prompt_tokens_details) ?? obj(u.input_tokens_details);
  const outDetails = obj(u.completion_tokens_details) ?? obj(u.output_tokens_details);
  // DeepSeek reports hits at the top level; OpenAI-compatible proxies in front of Anthropic
  // (LiteLLM, OpenRouter) add cache writes under a few names.
  const cacheRead =
    num(inDetails?.cached_tokens) || num(u.prompt_cache_hit_tokens) || num(u.cache_read_input_tokens);
  const cacheWrite =
    num(inDetails?.cache_write_tokens) ||
    num(inDetails?.cache_creation_tokens) ||
    num(u.cache_creation_input_tokens);
  const out: UsageDetail = {
    inputTokens: Math.max(0, promptTotal - cacheRead - cacheWrite),
    cacheReadTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    outputTokens: output,
  };
  const reasoning = num(outDetails?.reasoning_tokens);
  if (reasoning > 0) out.reasoningTokens = reasoning;
  return out;
}

/** All input tokens, whatever their rate. */
export const totalInputTokens = (u: Usage): number => u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
