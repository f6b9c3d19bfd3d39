/**
 * Configuration of the semantic cache (L2), mounted by the root config under `semanticCache`.
 * Off by default: a semantic hit answers a question with another question's answer, so
 * operators opt in per route, model or virtual key.
 */
import { z } from 'zod';
import { cacheScopeSchema } from '../config.js';

export const semanticCacheConfigSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** Only these routes / models / virtual key ids use it; an empty list means all. */
    routes: z.array(z.enum(['chat', 'messages'])).default([]),
    models: z.array(z.string()).default([]),
    keys: z.array(z.string()).default([]),
    /**
     * Who may be answered from whose entries (same values as the exact cache's scope): 'user'
     * (default: a semantic hit never crosses users), 'key', 'team' or 'shared'.
     */
    scope: cacheScopeSchema.default('user'),
    /**
     * 'use-lite' (offline, in-process, default) or the name of a provider embeddings model
     * (e.g. 'text-embedding-3-small') called through the gateway's own upstreams.
     */
    embedder: z.string().min(1).default('use-lite'),
    /** Vector length of a provider embeddings model. */
    embedderDims: z.number().int().positive().default(1536),
    /** Vectors of recently seen texts kept in memory (repeated questions skip the embedder). */
    embeddingCacheEntries: z.number().int().min(0).default(10_000),
    /**
     * Overrides the shipped verifier's probability threshold (higher = fewer, safer hits).
     * The shipped value holds false hits near 1 % on Quora question pairs.
     */
    threshold: z.number().gt(0).lt(1).optional(),
    /**
     * For embedders without a calibrated verifier (provider models): the cosine at or above
     * which a candidate that passes the word-level vetoes is a hit.
     */
    cosineThreshold: z.number().gt(0).lte(1).default(0.95),
    /** Nearest neighbours the verifier examines per lookup. */
    candidates: z.number().int().min(1).max(64).default(4),
    maxEntries: z.number().int().positive().default(100_000),
    /** Entry lifetime when the caller gives none. */
    ttlSeconds: z.number().int().min(0).default(3600),
    /** Texts longer than this are cut before embedding (the start carries the question). */
    maxTextChars: z.number().int().positive().default(2000),
    allowToolResults: z.boolean().default(false),
    allowImages: z.boolean().default(false),
    index: z
      .object({
        /** Partitions up to this size are scanned exactly; larger ones use an HNSW graph. */
        exactScanMax: z.number().int().min(1).default(1024),
        connectivity: z.number().int().min(4).max(64).default(32),
        expansionAdd: z.number().int().min(8).default(128),
        expansionSearch: z.number().int().min(8).default(64),
        quantization: z.enum(['f32', 'f16', 'i8']).default('i8'),
      })
      .default({
        exactScanMax: 1024,
        connectivity: 32,
        expansionAdd: 128,
        expansionSearch: 64,
        quantization: 'i8',
      }),
    /** Save the index under the data directory at shutdown and this often (0 = only at shutdown). */
    saveIntervalSeconds: z.number().int().min(0).default(300),
  })
  .default({
    enabled: false,
    routes: [],
    models: [],
    keys: [],
    scope: 'user',
    embedder: 'use-lite',
    embedderDims: 1536,
    embeddingCacheEntries: 10_000,
    cosineThreshold: 0.95,
    candidates: 4,
    maxEntries: 100_000,
    ttlSeconds: 3600,
    maxTextChars: 2000,
    allowToolResults: false,
    allowImages: false,
    index: {
      exactScanMax: 1024,
      connectivity: 32,
      expansionAdd: 128,
      expansionSearch: 64,
      quantization: 'i8',
    },
    saveIntervalSeconds: 300,
  });

export type SemanticCacheConfig = z.infer<typeof semanticCacheConfigSchema>;
