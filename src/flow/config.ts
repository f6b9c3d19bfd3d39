import { z } from 'zod';

/**
 * Flow control configuration, mounted by the root config under the key `flow`.
 * Every field has a default, so `{}` parses to a working setup.
 */

const limitsSchema = z.object({
  /** Requests sent to the upstream at the same time (the ceiling AIMD works under). */
  maxConcurrency: z.number().int().positive().default(64),
  /** Requests allowed to wait; beyond it new requests get 429 `queue_full` at once. */
  maxQueue: z.number().int().nonnegative().default(1000),
});

const upstreamLimitsSchema = limitsSchema.partial().extend({
  /**
   * Optional per-model limits inside this upstream (providers limit per model). A request for
   * such a model holds a model permit and an upstream permit.
   */
  models: z.record(z.string(), limitsSchema.partial()).default({}),
});

export const aimdConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** The adaptive limit never goes below this. */
    min: z.number().int().positive().default(1),
    /** On an upstream 429 the limit is multiplied by this (once per round of in-flight requests). */
    decreaseFactor: z.number().gt(0).lt(1).default(0.5),
    /** The limit grows by one after this many successful replies in a row. */
    increaseEvery: z.number().int().positive().default(10),
    /** Hold used when an upstream 429 carries no Retry-After. */
    defaultRetryAfterMs: z.number().int().nonnegative().default(1000),
  })
  .default({ enabled: true, min: 1, decreaseFactor: 0.5, increaseEvery: 10, defaultRetryAfterMs: 1000 });

/**
 * Deadline-aware admission: a request is not sent upstream when what is left of its deadline
 * is below what the upstream recently needed (the `quantile` of its recent service times),
 * and not queued when the expected queue wait plus that time exceeds its deadline.
 */
export const deadlineAdmissionSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Which quantile of recent service times a request must have left (0.9 = p90). */
    quantile: z.number().gt(0).lt(1).default(0.9),
    /** Recent service times kept per limiter. */
    window: z.number().int().min(1).max(10_000).default(64),
    /** Fewer fresh samples than this: no estimate yet, every request is admitted. */
    minSamples: z.number().int().min(1).default(5),
    /** Service times older than this are forgotten, so a past slowdown does not refuse forever. */
    maxSampleAgeMs: z.number().int().positive().default(60_000),
  })
  .refine((d) => d.minSamples <= d.window, { message: 'minSamples must not exceed window' })
  .default({ enabled: true, quantile: 0.9, window: 64, minSamples: 5, maxSampleAgeMs: 60_000 });

export const rateLimitScopeSchema = z.enum(['key', 'user', 'team', 'upstream']);

export const rateLimitRuleSchema = z
  .object({
    /** Stable name used in counter keys (defaults to `<scope>:<=match or *>:<=tier or *>`, escaped). */
    name: z.string().min(1).optional(),
    scope: rateLimitScopeSchema,
    /** Requests per minute. */
    rpm: z.number().int().positive().optional(),
    /** Tokens per minute (prompt estimate + max output, settled with real usage). */
    tpm: z.number().int().positive().optional(),
    /** Only this id (key id, user, team or upstream name); omitted = each id separately. */
    match: z.string().min(1).optional(),
    /** Only callers of this tier (key/user/team scopes). */
    tier: z.string().min(1).optional(),
  })
  .refine((r) => r.rpm !== undefined || r.tpm !== undefined, { message: 'a rate limit needs rpm or tpm' });

const prioritySchema = z.enum(['high', 'normal', 'low']);

export const flowConfigSchema = z
  .object({
    /** Limits for every upstream that has no entry in `upstreams`. */
    defaults: limitsSchema.default({ maxConcurrency: 64, maxQueue: 1000 }),
    /** Per-upstream overrides, keyed by upstream name. */
    upstreams: z.record(z.string(), upstreamLimitsSchema).default({}),
    aimd: aimdConfigSchema,
    deadlineAdmission: deadlineAdmissionSchema,
    /** Which caller identity gets its own fair share inside a priority level. */
    fairnessKey: z.enum(['key', 'user', 'team']).default('key'),
    rateLimits: z.array(rateLimitRuleSchema).default([]),
    /** Output tokens assumed for the TPM estimate when the request sets no max tokens. */
    assumedOutputTokens: z.number().int().nonnegative().default(1024),
    /** Priority for callers whose key has this tier, when the request sends no x-sluice-priority. */
    tierPriority: z.record(z.string(), prioritySchema).default({}),
    shutdown: z
      .object({ graceMs: z.number().int().nonnegative().default(30_000) })
      .default({ graceMs: 30_000 }),
  })
  .default({
    defaults: { maxConcurrency: 64, maxQueue: 1000 },
    upstreams: {},
    aimd: { enabled: true, min: 1, decreaseFactor: 0.5, increaseEvery: 10, defaultRetryAfterMs: 1000 },
    deadlineAdmission: { enabled: true, quantile: 0.9, window: 64, minSamples: 5, maxSampleAgeMs: 60_000 },
    fairnessKey: 'key',
    rateLimits: [],
    assumedOutputTokens: 1024,
    tierPriority: {},
    shutdown: { graceMs: 30_000 },
  });

export type FlowConfig = z.infer<typeof flowConfigSchema>;
export type AimdConfig = z.infer<typeof aimdConfigSchema>;
export type DeadlineAdmissionConfig = z.infer<typeof deadlineAdmissionSchema>;
export type RateLimitRule = z.infer<typeof rateLimitRuleSchema>;
export type RateLimitScope = z.infer<typeof rateLimitScopeSchema>;
