/**
 * The semantic cache (L2), usable without the HTTP server: `createSemanticCache(config)` for the
 * whole thing, or the parts — `SemanticCache` over any `Embedder`, the `Verifier`, the request
 * helpers that split a body into its semantic text and exact partition.
 */
export {
  type Candidate,
  type Examination,
  type LookupResult,
  SemanticCache,
  type SemanticCacheOptions,
  type SemanticCacheStats,
} from './cache.js';
export { type SemanticCacheConfig, semanticCacheConfigSchema } from './config.js';
export {
  createEmbedder,
  createSemanticCache,
  type SemanticCacheDeps,
  type SemanticCacheHandle,
} from './create.js';
export { evalSemanticCommand } from './eval.js';
export { compareProfiles, type LexicalEvidence, profileText, type TextProfile } from './lexical.js';
export { type HnswOptions, type Neighbour, PartitionIndex, type Quantization } from './partition-index.js';
export {
  canonicalJson,
  lastUserText,
  type SemanticRequest,
  type SemanticRequestOptions,
  semanticPartition,
  semanticRequest,
} from './request.js';
export { type SemanticStageDeps, semanticCacheStage } from './stage.js';
export { type Verdict, Verifier, type VerifierModel, type Veto, verifierFor } from './verifier.js';
export { USE_LITE_VERIFIER } from './verifier-model.js';
