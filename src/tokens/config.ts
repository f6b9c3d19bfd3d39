import { z } from 'zod';

/**
 * Token economy: counting, history compression, system-prompt trimming and provider
 * prompt-cache shaping. Mounted by the root config under the key `tokens`; `{}` parses.
 */

const compressionSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe(
      'Compress histories by default. Off: only keys with `compress: true` or requests with `x-sluice-compress: on`.',
    ),
  routes: z
    .array(z.enum(['chat', 'messages']))
    .default(['chat', 'messages'])
    .describe('Routes on which `enabled` applies.'),
  thresholdTokens: z
    .number()
    .int()
    .positive()
    .default(3000)
    .describe("Compress when the prompt is over this many tokens (the seed's 3000)."),
  keepTurns: z
    .number()
    .int()
    .min(1)
    .default(3)
    .describe('Most recent turns kept verbatim (a turn = a user message and everything up to the next one).'),
  model: z
    .string()
    .min(1)
    .default('gpt-4o-mini')
    .describe(
      'Cheap model that writes the summary, called through the gateway itself (cost recorded to the caller).',
    ),
  maxSummaryTokens: z
    .number()
    .int()
    .positive()
    .default(400)
    .describe('Longest summary the summariser may write.'),
  maxCharsPerMessage: z
    .number()
    .int()
    .positive()
    .default(4000)
    .describe("Longer messages are cut to this many characters in the summariser's input."),
  summaryTtlSeconds: z
    .number()
    .positive()
    .default(7 * 24 * 3600)
    .describe('How long a summary is kept for reuse by the prefix it replaces.'),
  instruction: z
    .string()
    .default(
      'Summarise the earlier part of this conversation for the assistant that continues it. Keep every fact, ' +
        'name, number, decision, open question and tool result that later turns may need. Be concise; no preamble.',
    )
    .describe('System instruction given to the summariser.'),
});

const systemTrimSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(false)
    .describe("Opt-in: cut an over-long system prompt to its head and tail (the seed's trim)."),
  maxTokens: z
    .number()
    .int()
    .positive()
    .default(1000)
    .describe('System prompts longer than this (tokens) are trimmed to it.'),
  headShare: z
    .number()
    .gt(0)
    .lt(1)
    .default(0.5)
    .describe('Share of the kept budget given to the head; the rest goes to the tail.'),
  marker: z
    .string()
    .default('\n…[middle of the system prompt omitted]…\n')
    .describe('Text put where the middle was cut.'),
});

const promptCacheSchema = z.strictObject({
  anthropicBreakpoints: z
    .boolean()
    .default(false)
    .describe(
      "Insert Anthropic `cache_control` breakpoints (up to 4, caller's count) on long stable prefixes.",
    ),
  ttl: z
    .enum(['5m', '1h'])
    .default('5m')
    .describe(
      "TTL of inserted breakpoints: Anthropic's default 5 minutes, or 1 hour (writes cost 2× input instead of 1.25×).",
    ),
  minTokensByModel: z
    .record(z.string(), z.number().int().positive())
    .default({
      'claude-opus-4-5*': 4096,
      'claude-opus-4-6*': 4096,
      'claude-haiku-4-5*': 4096,
      'claude-3-5-haiku*': 2048,
      'claude-3-haiku*': 2048,
    })
    .describe(
      'Shortest cacheable prefix in tokens, per model pattern (`*` globs, first match wins), else `minTokens`.',
    ),
  minTokens: z
    .number()
    .int()
    .positive()
    .default(1024)
    .describe('Shortest cacheable prefix for models without an entry in `minTokensByModel`.'),
  documentMinTokens: z
    .number()
    .int()
    .positive()
    .default(1024)
    .describe(
      'A single content block this long (tokens) outside the last turn is treated as a static document.',
    ),
  lowHitRate: z
    .strictObject({
      minRequests: z
        .number()
        .int()
        .positive()
        .default(20)
        .describe('Eligible requests (prompt ≥ 1024 tokens) in the window before judging.'),
      threshold: z
        .number()
        .min(0)
        .max(1)
        .default(0.1)
        .describe('Share of prompt tokens read from cache below which the caller is flagged.'),
      window: z.number().int().positive().default(100).describe('Requests remembered per caller.'),
    })
    .prefault({})
    .describe(
      "Warn (stats + log) when a caller's eligible requests mostly miss the provider's prompt cache.",
    ),
});

export const tokensConfigSchema = z
  .strictObject({
    estimateFactor: z
      .number()
      .positive()
      .default(1.2)
      .describe('Multiplier on the o200k count for models without a public tokenizer (see tokens/count.ts).'),
    requestStreamUsage: z
      .boolean()
      .default(true)
      .describe(
        'Ask OpenAI-dialect upstreams for stream usage (`stream_options.include_usage`), hidden from clients that did not ask.',
      ),
    compression: compressionSchema.prefault({}).describe('Summarise old turns of long conversations.'),
    systemTrim: systemTrimSchema.prefault({}).describe('Cut over-long system prompts.'),
    promptCache: promptCacheSchema.prefault({}).describe('Provider prompt-cache shaping and monitoring.'),
  })
  .prefault({});

export type TokensConfig = z.infer<typeof tokensConfigSchema>;
export type CompressionConfig = TokensConfig['compression'];
export type SystemTrimConfig = TokensConfig['systemTrim'];
export type PromptCacheConfig = TokensConfig['promptCache'];
