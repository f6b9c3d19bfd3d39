/**
 * The exact cache (L1), single-flight and SSE capture/replay, usable without the HTTP server:
 * build an `ExactCache` over any `KvStore` (see `store/`), call `get`/`set` directly, or put
 * `exactCacheStage` / `singleFlightStage` in a pipeline.
 */
export {
  aggregateAnthropicStream,
  AnthropicStreamAggregator,
  type NamedEvent,
  replayAnthropic,
} from '../dialect/anthropic-stream.js';
export { type CacheConfig, type CacheScope, cacheConfigSchema, cacheScopeSchema } from './config.js';
export { type CachedEntry, decodeEntry, encodeEntry } from './entry.js';
export {
  type CacheLog,
  type CacheRequest,
  ExactCache,
  type ExactCacheDeps,
  type ExactCacheStats,
  type ExactPlan,
} from './exact-cache.js';
export { cachedReply, exactCacheStage } from './exact-stage.js';
export { canonicalKey, type KeyInput, scopeOf } from './key.js';
export type { Aggregate } from '../dialect/types.js';
export {
  aggregateOpenAIStream,
  OpenAIStreamAggregator,
  type OpenAIReplayOptions,
  replayOpenAI,
} from '../dialect/openai-stream.js';
export { type CacheDirectives, type Cacheability, cacheDirectives, isCacheable } from './policy.js';
export { replaySse } from './replay.js';
export {
  ANTHROPIC_MESSAGES_KEYED,
  type AnthropicMessagesField,
  OPENAI_CHAT_KEYED,
  OPENAI_EMBEDDINGS_KEYED,
  type OpenAIChatField,
  type OpenAIEmbeddingsField,
} from '../dialect/request-fields.js';
export {
  type SingleFlightOptions,
  type SingleFlightStage,
  singleFlightStage,
} from './single-flight.js';
export { StreamCapture } from './stream-capture.js';
