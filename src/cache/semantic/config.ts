/**
 * Configuration of the semantic cache (L2), mounted by the root config under `semantic`.
 * Off by default: a semantic hit answers a question with another question's answer, so
 * operators opt in per route, model or virtual key.
 */
import { z } from 'zod';
import { cacheScopeSchema } from '../config.js';

export const semanticCacheConfigSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        "Turn the semantic cache on (off by default: a hit answers one question with another's answer).",
      ),
    routes: z
      .array(z.enum(['chat', 'messages']))
      .default([])
      .describe('Only these routes / models / virtual key ids use it; an empty list means all.'),
    models: z.array(z.string()).default([]).describe('Only these models use it (`*` globs); empty = all.'),
    keys: z.array(z.string()).default([]).describe('Only these virtual key ids use it; empty = all.'),
    scope: cacheScopeSchema
      .default('user')
      .describe(
        "Who may be answered from whose entries (same values as the exact cache's scope): 'user' (default: a semantic hit never crosses users), 'key', 'team' or 'shared'.",
      ),
    embedder: z
      .string()
      .min(1)
      .default('use-lite')
      .describe(
        "'use-lite' (offline, in-process, default) or the name of a provider embeddings model (e.g. 'text-embedding-3-small') called through the gateway's own upstreams.",
      ),
    embedderDims: z
      .number()
      .int()
      .positive()
      .default(1536)
      .describe('Vector length of a provider embeddings model.'),
    embeddingCacheEntries: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe('Vectors of recently seen texts kept in memory (repeated questions skip the embedder).'),
    threshold: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe(
        "Overrides the shipped verifier's probability threshold (higher = fewer, safer hits). The shipped value holds false hits near 1 % on Quora question pairs.",
      ),
    cosineThreshold: z
      .number()
      .gt(0)
      .lte(1)
      .default(0.95)
      .describe(
        'For embedders without a calibrated verifier (provider models): the cosine at or above which a candidate that passes the word-level vetoes is a hit.',
      ),
    candidates: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .describe('Nearest neighbours the verifier examines per lookup.'),
    maxEntries: z
      .number()
      .int()
      .positive()
      .default(100_000)
      .describe('Entries kept in the index (oldest evicted first).'),
    ttlSeconds: z.number().int().min(0).default(3600).describe('Entry lifetime when the caller gives none.'),
    maxTextChars: z
      .number()
      .int()
      .positive()
      .default(2000)
      .describe('Texts longer than this are cut before embedding (the start carries the question).'),
    allowToolResults: z
      .boolean()
      .default(false)
      .describe(
        'Also serve conversations that carry tool results (off: their answers depend on the tool output).',
      ),
    allowImages: z
      .boolean()
      .default(false)
      .describe('Also serve requests with images or other media (off: only the text would be compared).'),
    index: z
      .strictObject({
        exactScanMax: z
          .number()
          .int()
          .min(1)
          .default(1024)
          .describe('Partitions up to this size are scanned exactly; larger ones use an HNSW graph.'),
        connectivity: z
          .number()
          .int()
          .min(4)
          .max(64)
          .default(32)
          .describe('HNSW links per node (more = better recall, more memory).'),
        expansionAdd: z.number().int().min(8).default(128).describe('HNSW search breadth when inserting.'),
        expansionSearch: z.number().int().min(8).default(64).describe('HNSW search breadth when looking up.'),
        quantization: z
          .enum(['f32', 'f16', 'i8'])
          .default('i8')
          .describe('Storage precision of the vectors in the index.'),
      })
      .default({
        exactScanMax: 1024,
        connectivity: 32,
        expansionAdd: 128,
        expansionSearch: 64,
        quantization: 'i8',
      })
      .describe('Vector index tuning.'),
    streamMaxLength: z
      .number()
      .int()
      .min(1_000)
      .default(100_000)
      .describe(
        'With `redisUrl` set, instances share entries through a Redis stream of inserts and deletions; it keeps about this many events (each carries its vector: ~2.5 KB with use-lite). An instance away for longer than that many changes misses the older ones.',
      ),
    saveIntervalSeconds: z
      .number()
      .int()
      .min(0)
      .default(300)
      .describe('Save the index under the data directory at shutdown and this often (0 = only at shutdown).'),
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
    streamMaxLength: 100_000,
    saveIntervalSeconds: 300,
  });

export type SemanticCacheConfig = z.infer<typeof semanticCacheConfigSchema>;
