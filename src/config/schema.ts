import { z } from 'zod';

export const upstreamKindSchema = z.enum(['openai', 'anthropic']);
export type UpstreamKind = z.infer<typeof upstreamKindSchema>;

const timeoutsSchema = z.object({
  /** TCP/TLS connect. */
  connectMs: z.number().int().positive().default(5_000),
  /** From sending the request to the response headers (the provider's time to first byte). */
  firstByteMs: z.number().int().positive().default(60_000),
  /** Longest silence between two body chunks. */
  idleMs: z.number().int().positive().default(120_000),
});

const retrySchema = z.object({
  /** Attempts per upstream candidate, the first one included. */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  baseDelayMs: z.number().int().min(0).default(250),
  maxDelayMs: z.number().int().min(0).default(20_000),
});

/** How long the HTTP edge waits on a client sending its request; slow senders are cut. */
const serverSchema = z
  .object({
    /** Time to receive the request line and headers (Node's `headersTimeout`); 408 and close after it. */
    headersTimeoutMs: z.number().int().positive().default(15_000),
    /** Time to receive the whole request, body included (Node's `requestTimeout`). The reply is not bounded by it. */
    requestReadTimeoutMs: z.number().int().positive().default(120_000),
    /** Longest silence while reading a request body; 408 and close after it. */
    bodyIdleTimeoutMs: z.number().int().positive().default(15_000),
  })
  .refine((s) => s.headersTimeoutMs <= s.requestReadTimeoutMs, {
    message: 'headersTimeoutMs must not exceed requestReadTimeoutMs',
    path: ['headersTimeoutMs'],
  });

const corsSchema = z.object({
  /**
   * Browser origins allowed to call the gateway, exactly as the browser sends them
   * (`https://app.example.com`). Empty: no CORS headers at all, so web pages cannot read replies
   * or send JSON cross-site.
   */
  origins: z
    .array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin: scheme://host[:port], no path'))
    .default([]),
});

export const upstreamSchema = z.object({
  name: z
    .string()
    .min(1)
    .regex(/^[\w.-]+$/, 'letters, digits, _ . - only'),
  kind: upstreamKindSchema,
  /** Base URL including the API prefix, e.g. https://api.openai.com/v1 */
  baseUrl: z.url(),
  /** Name of the environment variable holding the provider key (the key itself never sits in config). */
  apiKeyEnv: z.string().min(1).optional(),
  /** Exact model names or `*` glob patterns this upstream serves. */
  models: z.array(z.string().min(1)).min(1).default(['*']),
  /** Keep-alive connections in this upstream's pool. */
  connections: z.number().int().positive().default(256),
  timeouts: timeoutsSchema.partial().optional(),
  retry: retrySchema.partial().optional(),
  /** Extra headers sent upstream on every request (e.g. an org id). */
  headers: z.record(z.string(), z.string()).default({}),
  /** Client header name prefixes forwarded upstream (e.g. `x-mock-` for the simulated upstream's fault injection). */
  forwardHeaderPrefixes: z.array(z.string().min(1)).default([]),
});
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

export const coreConfigSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(7878),
  dataDir: z.string().default('./.sluice'),
  redisUrl: z.string().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest accepted request body. */
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .default(20 * 1024 * 1024),
  /** Whole-request deadline; time queued counts. A client may ask for less with `x-sluice-timeout-ms`. */
  requestTimeoutMs: z.number().int().positive().default(600_000),
  server: serverSchema.default({
    headersTimeoutMs: 15_000,
    requestReadTimeoutMs: 120_000,
    bodyIdleTimeoutMs: 15_000,
  }),
  cors: corsSchema.default({ origins: [] }),
  timeouts: timeoutsSchema.default({ connectMs: 5_000, firstByteMs: 60_000, idleMs: 120_000 }),
  retry: retrySchema.default({ maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 20_000 }),
  upstreams: z.array(upstreamSchema).default([]),
  /** Ordered fallback models per model, tried after the model's own upstreams fail with a retryable error. */
  fallbacks: z.record(z.string(), z.array(z.string().min(1))).default({}),
});
