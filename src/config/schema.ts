import { z } from 'zod';

export const upstreamKindSchema = z.enum(['openai', 'anthropic']);
export type UpstreamKind = z.infer<typeof upstreamKindSchema>;

const timeoutsSchema = z.strictObject({
  connectMs: z.number().int().positive().default(5_000).describe('TCP/TLS connect.'),
  firstByteMs: z
    .number()
    .int()
    .positive()
    .default(60_000)
    .describe("From sending the request to the response headers (the provider's time to first byte)."),
  idleMs: z.number().int().positive().default(120_000).describe('Longest silence between two body chunks.'),
});

const retrySchema = z.strictObject({
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .max(10)
    .default(3)
    .describe('Attempts per upstream candidate, the first one included.'),
  baseDelayMs: z
    .number()
    .int()
    .min(0)
    .default(250)
    .describe(
      'Back-off ceiling before the first retry (full jitter), doubling per attempt; an upstream `Retry-After` replaces it.',
    ),
  maxDelayMs: z
    .number()
    .int()
    .min(0)
    .default(20_000)
    .describe('Cap on the exponential back-off between two attempts.'),
});

/** How long the HTTP edge waits on a client sending its request; slow senders are cut. */
const serverSchema = z
  .strictObject({
    headersTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(15_000)
      .describe(
        "Time to receive the request line and headers (Node's `headersTimeout`); 408 and close after it.",
      ),
    requestReadTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(120_000)
      .describe(
        "Time to receive the whole request, body included (Node's `requestTimeout`). The reply is not bounded by it.",
      ),
    bodyIdleTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(15_000)
      .describe('Longest silence while reading a request body; 408 and close after it.'),
  })
  .refine((s) => s.headersTimeoutMs <= s.requestReadTimeoutMs, {
    message: 'headersTimeoutMs must not exceed requestReadTimeoutMs',
    path: ['headersTimeoutMs'],
  });

const corsSchema = z.strictObject({
  origins: z
    .array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin: scheme://host[:port], no path'))
    .default([])
    .describe(
      'Browser origins allowed to call the gateway, exactly as the browser sends them (`https://app.example.com`). Empty: no CORS headers at all, so web pages cannot read replies or send JSON cross-site.',
    ),
});

const circuitBreakerSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe(
      'Stop sending to an upstream that keeps failing, so fallbacks answer at once; off = try it every time.',
    ),
  failureThreshold: z
    .number()
    .int()
    .min(1)
    .default(5)
    .describe(
      'Failures in a row (connection errors, timeouts, 5xx/529; not 429 or other 4xx) that open the circuit.',
    ),
  cooldownMs: z
    .number()
    .int()
    .positive()
    .default(30_000)
    .describe('How long an open circuit refuses requests before it lets one probe request through.'),
});

export const upstreamSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[\w.-]+$/, 'letters, digits, _ . - only')
    .describe('Unique name, used in logs, stats, `flow.upstreams` and rate-limit rules.'),
  kind: upstreamKindSchema.describe(
    'API dialect the upstream speaks: `openai` (OpenAI-compatible servers too) or `anthropic`.',
  ),
  baseUrl: z
    .url()
    .describe(
      'Base URL. OpenAI kind: with the API prefix (https://api.openai.com/v1). Anthropic kind: with or without `/v1` (https://api.anthropic.com).',
    ),
  apiKeyEnv: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Name of the environment variable holding the provider key (the key itself never sits in config).',
    ),
  models: z
    .array(z.string().min(1))
    .min(1)
    .default(['*'])
    .describe('Exact model names or `*` glob patterns this upstream serves.'),
  apis: z
    .array(z.enum(['chat', 'responses', 'embeddings', 'completions', 'messages']))
    .min(1)
    .optional()
    .describe(
      'The APIs this upstream serves; a request for another API is not sent to it. Default: `openai` kind `chat`, `embeddings`, `completions`, plus `responses` when the host is api.openai.com (vLLM, Ollama and most OpenAI-compatible servers have no Responses API); `anthropic` kind `messages`. A `/v1/responses` request for an upstream without `responses` is translated to chat completions; a stateful one (`previous_response_id`, `store: true`, …) is refused.',
    ),
  connections: z
    .number()
    .int()
    .positive()
    .default(256)
    .describe("Keep-alive connections in this upstream's pool."),
  timeouts: timeoutsSchema
    .partial()
    .optional()
    .describe('Overrides of the top-level `timeouts` for this upstream.'),
  retry: retrySchema.partial().optional().describe('Overrides of the top-level `retry` for this upstream.'),
  circuitBreaker: circuitBreakerSchema
    .partial()
    .optional()
    .describe('Overrides of the top-level `circuitBreaker` for this upstream.'),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe('Extra headers sent upstream on every request (e.g. an org id).'),
  forwardHeaderPrefixes: z
    .array(z.string().min(1))
    .default([])
    .describe(
      "Client header name prefixes forwarded upstream (e.g. `x-mock-` for the simulated upstream's fault injection).",
    ),
});
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

const failModeSchema = z.enum(['closed', 'open']);

/** How the gateway talks to its shared store (Redis) and what it does while the store is away. */
export const storeConfigSchema = z.strictObject({
  keyPrefix: z
    .string()
    .min(1)
    .default('sluice:')
    .describe(
      'Prefix of every Redis key the gateway writes: instances of one deployment share it; deployments (or test runs) sharing one Redis each use their own.',
    ),
  connectTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(2_000)
    .describe('Give up a Redis connection attempt after this long (at boot and on every reconnect).'),
  commandTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(500)
    .describe(
      'A Redis command unanswered after this long fails and the store counts as unavailable, so a stalled Redis delays a request by about this much, not indefinitely.',
    ),
  failMode: z
    .strictObject({
      rateLimits: failModeSchema
        .default('closed')
        .describe('Gateway rate limits (`flow.rateLimits`) while their store is away.'),
      budgets: failModeSchema
        .default('closed')
        .describe('Spending budgets (`cost.budgets`, virtual key limits) while their store is away.'),
    })
    .default({ rateLimits: 'closed', budgets: 'closed' })
    .describe(
      'What a check does when its store cannot be reached. `closed`: refuse with 503 `store_unavailable` and a Retry-After (nothing is over-admitted); `open`: let the request through unchecked (logged). Caches always fail open (a miss, counted in `/v1/stats`); ledger rows are spooled to `dataDir/spool` and replayed.',
    ),
});
export type StoreConfig = z.infer<typeof storeConfigSchema>;

const retentionDays = (what: string, fallback: number) =>
  z
    .number()
    .int()
    .min(0)
    .default(fallback)
    .describe(`${what} older than this many days are deleted (hourly, in batches); 0 keeps them forever.`);

/** PostgreSQL (`databaseUrl`): pool, timeouts and how long the ledger keeps what. */
export const databaseConfigSchema = z.strictObject({
  poolSize: z
    .number()
    .int()
    .positive()
    .default(10)
    .describe('Connections per gateway instance (the pool grows to this under load).'),
  statementTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(5_000)
    .describe(
      'A statement unanswered after this long fails and PostgreSQL counts as unavailable (ledger rows are then spooled, virtual-key lookups answer 503).',
    ),
  retention: z
    .strictObject({
      rowsDays: retentionDays('Ledger rows (one per call)', 0),
      minuteRollupDays: retentionDays('Per-minute rollups', 30),
      dayRollupDays: retentionDays('Per-day rollups', 0),
    })
    .default({ rowsDays: 0, minuteRollupDays: 30, dayRollupDays: 0 })
    .describe('How long the ledger in PostgreSQL keeps raw rows and rollups.'),
});
export type DatabaseConfig = z.infer<typeof databaseConfigSchema>;

export const coreConfigSchema = z.strictObject({
  host: z
    .string()
    .default('127.0.0.1')
    .describe('Listen address (`HOST`; `--host`). `0.0.0.0` accepts connections from other machines.'),
  port: z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(7878)
    .describe('Listen port (`PORT`; `--port`); 0 picks a free one.'),
  dataDir: z
    .string()
    .default('./.sluice')
    .describe(
      'Where SQLite stores cache entries, keys, the ledger and the semantic index (`SLUICE_DATA_DIR`).',
    ),
  redisUrl: z
    .string()
    .optional()
    .describe('Redis URL (`REDIS_URL`): shared state for several instances instead of SQLite.'),
  databaseUrl: z
    .string()
    .optional()
    .describe(
      'PostgreSQL URL (`DATABASE_URL`): the ledger (rows and rollups) and virtual keys live there instead of with the hot state; see docs/operations.md.',
    ),
  database: databaseConfigSchema
    .default({
      poolSize: 10,
      statementTimeoutMs: 5_000,
      retention: { rowsDays: 0, minuteRollupDays: 30, dayRollupDays: 0 },
    })
    .describe('PostgreSQL pool, timeouts and ledger retention (used when `databaseUrl` is set).'),
  store: storeConfigSchema
    .default({
      keyPrefix: 'sluice:',
      connectTimeoutMs: 2_000,
      commandTimeoutMs: 500,
      failMode: { rateLimits: 'closed', budgets: 'closed' },
    })
    .describe('Timeouts of the shared store (Redis) and what limits and budgets do while it is away.'),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level of the JSON logs on stdout (`SLUICE_LOG_LEVEL`).'),
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .default(20 * 1024 * 1024)
    .describe('Largest accepted request body.'),
  requestTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(600_000)
    .describe(
      'Whole-request deadline; time queued counts. A client may ask for less with `x-sluice-timeout-ms`.',
    ),
  server: serverSchema
    .default({
      headersTimeoutMs: 15_000,
      requestReadTimeoutMs: 120_000,
      bodyIdleTimeoutMs: 15_000,
    })
    .describe('How long the HTTP edge waits on a client sending its request.'),
  cors: corsSchema.default({ origins: [] }).describe('Cross-origin (browser) access.'),
  timeouts: timeoutsSchema
    .default({ connectMs: 5_000, firstByteMs: 60_000, idleMs: 120_000 })
    .describe('Upstream timeouts of every upstream (each may override them).'),
  retry: retrySchema
    .default({ maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 20_000 })
    .describe('Retries of retryable upstream failures (429, 5xx, connection errors) for every upstream.'),
  circuitBreaker: circuitBreakerSchema
    .default({ enabled: true, failureThreshold: 5, cooldownMs: 30_000 })
    .describe(
      'Per-upstream circuit breaker: after repeated failures an upstream is skipped for a cool-down.',
    ),
  upstreams: z
    .array(upstreamSchema)
    .default([])
    .describe(
      'The providers requests go to, matched by model. Empty: taken from the provider variables (see above).',
    ),
  fallbacks: z
    .record(z.string(), z.array(z.string().min(1)))
    .default({})
    .describe(
      "Ordered fallback models per model, tried after the model's own upstreams fail with a retryable error.",
    ),
});
