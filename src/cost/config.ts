import { z } from 'zod';

/**
 * Prices, budgets and their tiers. Mounted by the root config under the key `cost`; `{}` parses.
 * Prices come from @pydantic/genai-prices (bundled, maintained); `prices` here only adds or
 * overrides models (private deployments, models the data set lacks such as Qwen's).
 */

const perMTok = z.number().nonnegative();

const priceTierSchema = z.strictObject({
  aboveInputTokens: z
    .number()
    .int()
    .nonnegative()
    .describe(
      "This tier applies when the request's total input tokens exceed this (the provider's long-context rule).",
    ),
  inputPerMTok: perMTok.optional().describe('Input price in this tier.'),
  outputPerMTok: perMTok.optional().describe('Output price in this tier.'),
  cacheReadPerMTok: perMTok.optional().describe('Cache-read price in this tier.'),
  cacheWritePerMTok: perMTok.optional().describe('Cache-write price in this tier.'),
  cacheWrite1hPerMTok: perMTok.optional().describe('1-hour cache-write price in this tier.'),
});

export const modelPriceSchema = z.strictObject({
  inputPerMTok: perMTok.describe('USD per million uncached input tokens.'),
  outputPerMTok: perMTok.describe('USD per million output tokens (reasoning included).'),
  cacheReadPerMTok: perMTok
    .optional()
    .describe('USD per million cache-read input tokens; defaults to the input price (no discount).'),
  cacheWritePerMTok: perMTok
    .optional()
    .describe(
      'USD per million cache-write input tokens (Anthropic 5-minute writes); defaults to the input price.',
    ),
  cacheWrite1hPerMTok: perMTok
    .optional()
    .describe('USD per million 1-hour cache-write tokens; defaults to `cacheWritePerMTok`.'),
  perRequestUsd: z
    .number()
    .nonnegative()
    .optional()
    .describe('Fixed USD per request, if the provider charges one.'),
  tiers: z
    .array(priceTierSchema)
    .default([])
    .describe('Long-context price tiers; the highest one whose threshold the request passes applies.'),
});
export type ModelPriceConfig = z.infer<typeof modelPriceSchema>;

const limitsSchema = z.strictObject({
  dailyUsd: z.number().nonnegative().optional().describe('USD per UTC day.'),
  monthlyUsd: z.number().nonnegative().optional().describe('USD per UTC calendar month.'),
});
export type BudgetLimits = z.infer<typeof limitsSchema>;

const budgetsSchema = z.strictObject({
  tiers: z
    .record(z.string(), limitsSchema)
    .default({
      free: { dailyUsd: 0.1 },
      pro: { dailyUsd: 5 },
      enterprise: { dailyUsd: 100 },
    })
    .describe(
      "Budgets of a caller's user scope by tier (the seed's tiers). A caller's tier comes from its key or `auth.users`.",
    ),
  users: z
    .record(z.string(), limitsSchema)
    .default({})
    .describe("Per-user budgets; they replace the tier's."),
  teams: z
    .record(z.string(), limitsSchema)
    .default({})
    .describe('Per-team budgets (all callers of the team together).'),
  warnAt: z
    .number()
    .gt(0)
    .lt(1)
    .default(0.8)
    .describe(
      'Share of a budget at which callers are warned (header on the call that crosses it, log, webhook).',
    ),
  webhookUrl: z
    .url()
    .optional()
    .describe('Optional URL POSTed a JSON event once per budget window when spending crosses `warnAt`.'),
  defaultMaxOutputTokens: z
    .number()
    .int()
    .positive()
    .default(4096)
    .describe('Output tokens assumed for the reservation when a request sets no max tokens.'),
  capOutputTokens: z
    .boolean()
    .default(true)
    .describe(
      'When a caller has a budget and the request sets no max tokens, write `defaultMaxOutputTokens` into it, so the reservation is a true upper bound and a budget can never be overspent. Off: such requests may settle above their reservation.',
    ),
  unpriced: z
    .enum(['allow', 'refuse'])
    .default('allow')
    .describe(
      'What a budgeted caller may do with a model that has no known price: call it (recorded as unpriced) or be refused.',
    ),
  abortGraceMs: z
    .number()
    .int()
    .nonnegative()
    .default(2000)
    .describe(
      'A stream whose client went away is settled this long after the abort if the reply never finished.',
    ),
});
export type BudgetsConfig = z.infer<typeof budgetsSchema>;

export const costConfigSchema = z
  .strictObject({
    prices: z
      .record(z.string(), modelPriceSchema)
      .default({})
      .describe(
        'Price overrides by model name or `*` glob, in USD per million tokens. Exact names win over globs.',
      ),
    budgets: budgetsSchema
      .prefault({})
      .describe('Spending limits per tier, user and team; reserved before each call.'),
  })
  .prefault({});

export type CostConfig = z.infer<typeof costConfigSchema>;
