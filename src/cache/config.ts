import { z } from 'zod';

/**
 * Exact-cache (L1) and single-flight settings; mounted by the root config under `cache`
 * (the semantic cache's settings live in `cache/semantic/`).
 */
export const cacheScopeSchema = z.enum(['team', 'user', 'key', 'shared']);
export type CacheScope = z.infer<typeof cacheScopeSchema>;

export const cacheConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Off = the exact-cache stage is left out of the pipeline.'),
    scope: cacheScopeSchema
      .default('team')
      .describe(
        "Who shares entries. `team`: the caller's team, else their virtual key, else their user; `key`: the virtual key, else the user; `user`: the user within their team or key; `shared`: everyone. Entries never cross scopes.",
      ),
    ttlSeconds: z
      .number()
      .positive()
      .default(3600)
      .describe(
        'Entry lifetime, renewed on every hit (sliding). `x-sluice-cache-ttl` overrides per request.',
      ),
    maxEntries: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('LRU bounds of the whole exact cache (all scopes together).'),
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024)
      .describe('Byte bound of the whole exact cache (all scopes together).'),
    deterministicOnly: z
      .boolean()
      .default(true)
      .describe('Cache only (near-)deterministic requests: temperature <= maxTemperature, or a `seed`.'),
    maxTemperature: z
      .number()
      .min(0)
      .default(0.1)
      .describe('Highest temperature still cached when `deterministicOnly` is on.'),
    cacheNGreaterThanOne: z
      .boolean()
      .default(false)
      .describe('Cache requests asking for several choices (`n > 1`).'),
    embeddings: z
      .boolean()
      .default(true)
      .describe('Cache `/v1/embeddings` answers (deterministic by nature).'),
    singleFlight: z
      .boolean()
      .default(true)
      .describe('Collapse identical cacheable requests in flight into one upstream call.'),
    flightLeaseMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe(
        'With Redis: how long another instance waits for a single-flight leader that stopped answering (crashed) before it calls upstream itself. The leader renews its lease every third of this while its call runs, so a long answer is never duplicated.',
      ),
  })
  .prefault({});

export type CacheConfig = z.infer<typeof cacheConfigSchema>;
