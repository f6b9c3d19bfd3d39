import { z } from 'zod';

/**
 * Prices, budgets and their tiers. Mounted by the root config under the key `cost`; `{}` parses.
 * Prices come from @pydantic/genai-prices (bundled, maintained); `prices` here only adds or
 * overrides models (private deployments, models the data set lacks such as Qwen's).
 */

const perMTok = z.number().nonnegative();

const priceTierSchema = z.object({
  /** This tier applies when the request's total input tokens exceed this (the provider's long-context rule). */
  aboveInputTokens: z.number().int().nonnegative(),
  inputPerMTok: perMTok.optional(),
  outputPerMTok: perMTok.optional(),
  cacheReadPerMTok: perMTok.optional(),
  cacheWritePerMTok: perMTok.optional(),
  cacheWrite1hPerMTok: perMTok.optional(),
});

export const modelPriceSchema = z.object({
  /** USD per million uncached input tokens. */
  inputPerMTok: perMTok,
  /** USD per million output tokens (reasoning included). */
  outputPerMTok: perMTok,
  /** USD per million cache-read input tokens; defaults to the input price (no discount). */
  cacheReadPerMTok: perMTok.optional(),
  /** USD per million cache-write input tokens (Anthropic 5-minute writes); defaults to the input price. */
  cacheWritePerMTok: perMTok.optional(),
  /** USD per million 1-hour cache-write tokens; defaults to `cacheWritePerMTok`. */
  cacheWrite1hPerMTok: perMTok.optional(),
  /** Fixed USD per request, if the provider charges one. */
  perRequestUsd: z.number().nonnegative().optional(),
  tiers: z.array(priceTierSchema).default([]),
});
export type ModelPriceConfig = z.infer<typeof modelPriceSchema>;

const limitsSchema = z.object({
  dailyUsd: z.number().nonnegative().optional(),
  monthlyUsd: z.number().nonnegative().optional(),
});
export type BudgetLimits = z.infer<typeof limitsSchema>;

const budgetsSchema = z.object({
  /** Budgets of a caller's user scope by tier (the seed's tiers). A caller's tier comes from its key or `auth.users`. */
  tiers: z.record(z.string(), limitsSchema).default({
    free: { dailyUsd: 0.1 },
    pro: { dailyUsd: 5 },
    enterprise: { dailyUsd: 100 },
  }),
  /** Per-user budgets; they replace the tier's. */
  users: z.record(z.string(), limitsSchema).default({}),
  /** Per-team budgets (all callers of the team together). */
  teams: z.record(z.string(), limitsSchema).default({}),
  /** Share of a budget at which callers are warned (header, log, webhook). */
  warnAt: z.number().gt(0).lt(1).default(0.8),
  /** Optional URL POSTed a JSON event once per budget window when spending crosses `warnAt`. */
  webhookUrl: z.url().optional(),
  /** Output tokens assumed for the reservation when a request sets no max tokens. */
  defaultMaxOutputTokens: z.number().int().positive().default(4096),
  /**
   * When a caller has a budget and the request sets no max tokens, write
   * `defaultMaxOutputTokens` into it, so the reservation is a true upper bound and a budget can
   * never be overspent. Off: such requests may settle above their reservation.
   */
  capOutputTokens: z.boolean().default(true),
  /** What a budgeted caller may do with a model that has no known price: call it (recorded as unpriced) or be refused. */
  unpriced: z.enum(['allow', 'refuse']).default('allow'),
  /** A stream whose client went away is settled this long after the abort if the reply never finished. */
  abortGraceMs: z.number().int().nonnegative().default(2000),
});
export type BudgetsConfig = z.infer<typeof budgetsSchema>;

export const costConfigSchema = z
  .object({
    /** Price overrides by model name or `*` glob, in USD per million tokens. Exact names win over globs. */
    prices: z.record(z.string(), modelPriceSchema).default({}),
    budgets: budgetsSchema.prefault({}),
  })
  .prefault({});

export type CostConfig = z.infer<typeof costConfigSchema>;
