import { z } from 'zod';

/**
 * Token economy: counting, history compression, system-prompt trimming and provider
 * prompt-cache shaping. Mounted by the root config under the key `tokens`; `{}` parses.
 */

const compressionSchema = z.object({
  /** Compress histories by default. Off: only keys with `compress: true` or requests with `x-sluice-compress: on`. */
  enabled: z.boolean().default(false),
  /** Routes on which `enabled` applies. */
  routes: z.array(z.enum(['chat', 'messages'])).default(['chat', 'messages']),
  /** Compress when the prompt is over this many tokens (the seed's 3000). */
  thresholdTokens: z.number().int().positive().default(3000),
  /** Most recent turns kept verbatim (a turn = a user message and everything up to the next one). */
  keepTurns: z.number().int().min(1).default(3),
  /** Cheap model that writes the summary, called through the gateway itself (cost recorded to the caller). */
  model: z.string().min(1).default('gpt-4o-mini'),
  maxSummaryTokens: z.number().int().positive().default(400),
  /** Longer messages are cut to this many characters in the summariser's input. */
  maxCharsPerMessage: z.number().int().positive().default(4000),
  /** How long a summary is kept for reuse by the prefix it replaces. */
  summaryTtlSeconds: z
    .number()
    .positive()
    .default(7 * 24 * 3600),
  instruction: z
    .string()
    .default(
      'Summarise the earlier part of this conversation for the assistant that continues it. Keep every fact, ' +
        'name, number, decision, open question and tool result that later turns may need. Be concise; no preamble.',
    ),
});

const systemTrimSchema = z.object({
  /** Opt-in: cut an over-long system prompt to its head and tail (the seed's trim). */
  enabled: z.boolean().default(false),
  maxTokens: z.number().int().positive().default(1000),
  /** Share of the kept budget given to the head; the rest goes to the tail. */
  headShare: z.number().gt(0).lt(1).default(0.5),
  marker: z.string().default('\n…[middle of the system prompt omitted]…\n'),
});

const promptCacheSchema = z.object({
  /** Insert Anthropic `cache_control` breakpoints (up to 4, caller's count) on long stable prefixes. */
  anthropicBreakpoints: z.boolean().default(false),
  /** TTL of inserted breakpoints: Anthropic's default 5 minutes, or 1 hour (writes cost 2× input instead of 1.25×). */
  ttl: z.enum(['5m', '1h']).default('5m'),
  /** Shortest cacheable prefix in tokens, per model pattern (`*` globs, first match wins), else `minTokens`. */
  minTokensByModel: z.record(z.string(), z.number().int().positive()).default({
    'claude-opus-4-5*': 4096,
    'claude-opus-4-6*': 4096,
    'claude-haiku-4-5*': 4096,
    'claude-3-5-haiku*': 2048,
    'claude-3-haiku*': 2048,
  }),
  minTokens: z.number().int().positive().default(1024),
  /** A single content block this long (tokens) outside the last turn is treated as a static document. */
  documentMinTokens: z.number().int().positive().default(1024),
  /** Warn (stats + log) when a caller's eligible requests mostly miss the provider's prompt cache. */
  lowHitRate: z
    .object({
      /** Eligible requests (prompt ≥ 1024 tokens) in the window before judging. */
      minRequests: z.number().int().positive().default(20),
      /** Share of prompt tokens read from cache below which the caller is flagged. */
      threshold: z.number().min(0).max(1).default(0.1),
      /** Requests remembered per caller. */
      window: z.number().int().positive().default(100),
    })
    .prefault({}),
});

export const tokensConfigSchema = z
  .object({
    /** Multiplier on the o200k count for models without a public tokenizer (see tokens/count.ts). */
    estimateFactor: z.number().positive().default(1.2),
    /** Ask OpenAI-dialect upstreams for stream usage (`stream_options.include_usage`), hidden from clients that did not ask. */
    requestStreamUsage: z.boolean().default(true),
    compression: compressionSchema.prefault({}),
    systemTrim: systemTrimSchema.prefault({}),
    promptCache: promptCacheSchema.prefault({}),
  })
  .prefault({});

export type TokensConfig = z.infer<typeof tokensConfigSchema>;
export type CompressionConfig = TokensConfig['compression'];
export type SystemTrimConfig = TokensConfig['systemTrim'];
export type PromptCacheConfig = TokensConfig['promptCache'];
