/** Embedders behind one interface: offline USE-lite (worker thread), a provider's API, and an LRU in front. */
export { CachedEmbedder } from './cached.js';
export { type EmbeddingsCall, ProviderEmbedder, type ProviderEmbedderOptions } from './provider.js';
export { dot, type Embedder, normalise } from './types.js';
export { USE_LITE_ID, UseLiteEmbedder, type UseLiteOptions } from './use-lite.js';
