import type { Dialect, Usage } from '../pipeline/types.js';
import type { UsageReader } from './stage.js';

/** Placeholder reader until tokens/usage is wired; reads the provider's own counts only. */
export const basicUsageReader: UsageReader = {
  fromJson(dialect: Dialect, parsed: unknown): Usage | undefined {
    const u = (parsed as { usage?: Record<string, number> } | undefined)?.usage;
    if (!u) return undefined;
    return dialect === 'anthropic'
      ? {
          inputTokens: u.input_tokens ?? 0,
          cacheReadTokens: u.cache_read_input_tokens ?? 0,
          cacheWriteTokens: u.cache_creation_input_tokens ?? 0,
          outputTokens: u.output_tokens ?? 0,
        }
      : {
          inputTokens: u.prompt_tokens ?? 0,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          outputTokens: u.completion_tokens ?? 0,
        };
  },
  streamMeter() {
    return { feed() {}, usage: () => undefined };
  },
};
