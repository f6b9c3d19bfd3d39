import { z } from 'zod';

/**
 * Exact-cache (L1) and single-flight settings; mounted by the root config under `cache`
 * (the semantic cache's settings live in `cache/semantic/`).
 */
export const cacheScopeSchema = z.enum(['team', 'user', 'key', 'shared']);
export type CacheScope = z.infer<typeof cacheScopeSchema>;

export const cacheConfigSchema = z
  .object({
    /** Off = the exact-cache stage is left out of the pipeline. */
    enabled: z.boolean().default(true),
    /**
     * Who shares entries. `team`: the caller's team, else their virtual key, else their user;
     * `key`: the virtual key, else the user; `user`: the user within their team or key;
     * `shared`: everyone. Entries never cross scopes.
     */
    scope: cacheScopeSchema.default('team'),
    /** Entry lifetime, renewed on every hit (sliding). `x-sluice-cache-ttl` overrides per request. */
    ttlSeconds: z.number().positive().default(3600),
    /** LRU bounds of the whole exact cache (all scopes together). */
    maxEntries: z.number().int().positive().default(10_000),
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024),
    /** Cache only (near-)deterministic requests: temperature <= maxTemperature, or a `seed`. */
    deterministicOnly: z.boolean().default(true),
    maxTemperature: z.number().min(0).default(0.1),
    /** Cache requests asking for several choices (`n > 1`). */
    cacheNGreaterThanOne: z.boolean().default(false),
    /** Cache `/v1/embeddings` answers (deterministic by nature). */
    embeddings: z.boolean().default(true),
    /** Collapse identical cacheable requests in flight into one upstream call. */
    singleFlight: z.boolean().default(true),
  })
  .prefault({});

export type CacheConfig = z.infer<typeof cacheConfigSchema>;
