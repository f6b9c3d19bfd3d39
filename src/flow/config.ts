import { z } from 'zod';

/**
 * Flow control configuration, mounted by the root config under the key `flow`.
 * Every field has a default, so `{}` parses to a working setup.
 */

const limitsSchema = z.strictObject({
  maxConcurrency: z
    .number()
    .int()
    .positive()
    .default(64)
    .describe('Requests sent to the upstream at the same time (the ceiling AIMD works under).'),
  maxQueue: z
    .number()
    .int()
    .nonnegative()
    .default(1000)
    .describe('Requests allowed to wait; beyond it new requests get 429 `queue_full` at once.'),
});

const upstreamLimitsSchema = limitsSchema.partial().extend({
  models: z
    .record(z.string(), limitsSchema.partial())
    .default({})
    .describe(
      'Optional per-model limits inside this upstream (providers limit per model). A request for such a model holds a model permit and an upstream permit.',
    ),
});

export const aimdConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Adapt each upstream's concurrency to its 429s (additive increase, multiplicative decrease).",
      ),
    min: z.number().int().positive().default(1).describe('The adaptive limit never goes below this.'),
    decreaseFactor: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.5)
      .describe(
        'On an upstream 429 the limit is multiplied by this (at the first 429 of an overload, at most once per decreaseWindowMs).',
      ),
    increaseEvery: z
      .number()
      .int()
      .positive()
      .default(10)
      .describe('The limit grows by one after this many successful replies in a row.'),
    defaultRetryAfterMs: z
      .number()
      .int()
      .nonnegative()
      .default(1000)
      .describe('Hold used when an upstream 429 carries no Retry-After.'),
    decreaseWindowMs: z
      .number()
      .int()
      .nonnegative()
      .default(1000)
      .describe(
        'At most one decrease per this many ms: the 429s of one overload arrive together. A 429 to an attempt sent before the last decrease never decreases again.',
      ),
  })
  // Absent: every field's own default (parsed, so the defaults are written once).
  .prefault({});

/**
 * Deadline-aware admission: a request is not sent upstream when what is left of its deadline
 * is below what the upstream recently needed (the `quantile` of its recent service times),
 * and not queued when the expected queue wait plus that time exceeds its deadline.
 */
export const deadlineAdmissionSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Refuse early the requests whose deadline the upstream cannot meet.'),
    quantile: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.9)
      .describe('Which quantile of recent service times a request must have left (0.9 = p90).'),
    window: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(64)
      .describe('Recent service times kept per limiter.'),
    minSamples: z
      .number()
      .int()
      .min(1)
      .default(5)
      .describe('Fewer fresh samples than this: no estimate yet, every request is admitted.'),
    maxSampleAgeMs: z
      .number()
      .int()
      .positive()
      .default(60_000)
      .describe('Service times older than this are forgotten, so a past slowdown does not refuse forever.'),
  })
  .refine((d) => d.minSamples <= d.window, { message: 'minSamples must not exceed window' })
  .prefault({});

export const rateLimitScopeSchema = z.enum(['key', 'user', 'team', 'upstream']);

export const rateLimitRuleSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Stable name used in counter keys (defaults to `<scope>:<=match or *>:<=tier or *>`, escaped).',
      ),
    scope: rateLimitScopeSchema.describe('What is counted: each virtual key, user, team or upstream.'),
    rpm: z.number().int().positive().optional().describe('Requests per minute.'),
    tpm: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Tokens per minute (prompt estimate + max output, settled with real usage).'),
    match: z
      .string()
      .min(1)
      .optional()
      .describe('Only this id (key id, user, team or upstream name); omitted = each id separately.'),
    tier: z.string().min(1).optional().describe('Only callers of this tier (key/user/team scopes).'),
  })
  .refine((r) => r.rpm !== undefined || r.tpm !== undefined, { message: 'a rate limit needs rpm or tpm' });

const prioritySchema = z.enum(['high', 'normal', 'low']);

export const flowConfigSchema = z
  .strictObject({
    defaults: limitsSchema
      .default({ maxConcurrency: 64, maxQueue: 1000 })
      .describe('Limits for every upstream that has no entry in `upstreams`.'),
    upstreams: z
      .record(z.string(), upstreamLimitsSchema)
      .default({})
      .describe('Per-upstream overrides, keyed by upstream name.'),
    aimd: aimdConfigSchema.describe('Adaptive concurrency per upstream.'),
    deadlineAdmission: deadlineAdmissionSchema.describe(
      'Deadline-aware admission: refuse at once what would time out anyway.',
    ),
    fairnessKey: z
      .enum(['key', 'user', 'team'])
      .default('key')
      .describe('Which caller identity gets its own fair share inside a priority level.'),
    rateLimits: z
      .array(rateLimitRuleSchema)
      .default([])
      .describe(
        'RPM/TPM limits; a request must pass every rule that applies to it (429 `rate_limited` otherwise).',
      ),
    assumedOutputTokens: z
      .number()
      .int()
      .nonnegative()
      .default(1024)
      .describe('Output tokens assumed for the TPM estimate when the request sets no max tokens.'),
    tierPriority: z
      .record(z.string(), prioritySchema)
      .default({})
      .describe('Priority for callers whose key has this tier, when the request sends no x-sluice-priority.'),
    shutdown: z
      .strictObject({
        graceMs: z
          .number()
          .int()
          .nonnegative()
          .default(30_000)
          .describe('On SIGTERM/SIGINT, how long requests in flight may finish before the process exits.'),
      })
      .default({ graceMs: 30_000 })
      .describe('Graceful shutdown.'),
  })
  .default({
    defaults: { maxConcurrency: 64, maxQueue: 1000 },
    upstreams: {},
    aimd: aimdConfigSchema.parse(undefined),
    deadlineAdmission: deadlineAdmissionSchema.parse(undefined),
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
