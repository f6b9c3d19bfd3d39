/**
 * Shared pieces of the usage normaliser. Each dialect reads its own `usage` object
 * (`openai.ts`, `anthropic.ts`) into the one `Usage` shape; getting the providers' different
 * conventions wrong is how gateways end up pricing cache tokens 2–7× off:
 *  - OpenAI: `prompt_tokens` INCLUDES `prompt_tokens_details.cached_tokens`, so uncached input
 *    is the difference; DeepSeek reports hits as `prompt_cache_hit_tokens`.
 *  - Anthropic: `input_tokens` EXCLUDES cache reads and writes, which come as
 *    `cache_read_input_tokens` / `cache_creation_input_tokens` (split by TTL in `cache_creation`).
 */
import type { Usage } from './types.js';

export type Raw = Record<string, unknown>;

/** A token count: a finite positive number, else 0 (providers send null for "none"). */
export const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
export const record = (v: unknown): Raw | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : undefined;

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
});

/** All input tokens, whatever their rate. */
export const totalInputTokens = (u: Usage): number => u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;

export const hasTokens = (u: Usage | undefined): u is Usage =>
  !!u && totalInputTokens(u) + u.outputTokens > 0;
