/**
 * Builds the semantic cache from its config: the embedder (offline USE-lite, or a provider
 * model through the gateway's own upstream call), an LRU of recent embeddings in front of it,
 * the verifier calibrated for that embedder, the saved state from the data directory (HNSW
 * graphs included), the Redis stream shared with other instances when there is one, and the
 * timers that save and sweep expired entries.
 */
import { join } from 'node:path';
import { CachedEmbedder } from '../../embed/cached.js';
import { type EmbeddingsCall, ProviderEmbedder } from '../../embed/provider.js';
import type { Embedder } from '../../embed/types.js';
import { UseLiteEmbedder } from '../../embed/use-lite.js';
import { SemanticCache } from './cache.js';
import type { SemanticChange } from './change.js';
import type { SemanticCacheConfig } from './config.js';
import { SharedLog } from './shared-log.js';
import { verifierFor } from './verifier.js';
import { USE_LITE_VERIFIER } from './verifier-model.js';

export interface SemanticCacheDeps {
  /** The gateway's data directory (`SLUICE_DATA_DIR`); the index is saved under `<dir>/semantic`. */
  dataDir?: string;
  /** Needed when `embedder` names a provider model: calls the gateway's embeddings upstream. */
  embeddingsCall?: EmbeddingsCall;
  /** Where failed background saves / sweeps are reported (the request path never sees them). */
  onError?: (what: string, error: unknown) => void;
  /** Load the offline model at start rather than on the first lookup (default true). */
  warm?: boolean;
  /** Share entries with the other instances on this Redis (the store's URL and key prefix). */
  shared?: { url: string; keyPrefix: string };
}

export interface SemanticCacheHandle {
  cache: SemanticCache;
  embedder: Embedder;
  /** The stream shared with other instances, when `deps.shared` was given. */
  log?: SharedLog;
  /** Stops the timers and the shared log, saves, and closes the embedder (and its worker thread). */
  close(): Promise<void>;
}

export function createEmbedder(config: SemanticCacheConfig, deps: SemanticCacheDeps): Embedder {
  const onError = deps.onError ?? warn;
  let inner: Embedder;
  if (config.embedder === 'use-lite') {
    const useLite = new UseLiteEmbedder({ maxChars: config.maxTextChars });
    // ~1 s of model loading in the worker, off the event loop; the first lookup would wait for it.
    if (deps.warm !== false) useLite.warm().catch((error) => onError('warm-up', error));
    inner = useLite;
  } else {
    inner = new ProviderEmbedder({
      model: config.embedder,
      dims: config.embedderDims,
      maxChars: config.maxTextChars,
      call:
        deps.embeddingsCall ??
        (() => {
          throw new TypeError(
            `semanticCache.embedder "${config.embedder}" needs the gateway's embeddings call`,
          );
        }),
    });
  }
  return config.embeddingCacheEntries > 0 ? new CachedEmbedder(inner, config.embeddingCacheEntries) : inner;
}

export async function createSemanticCache(
  config: SemanticCacheConfig,
  deps: SemanticCacheDeps = {},
): Promise<SemanticCacheHandle> {
  const embedder = createEmbedder(config, deps);
  const verifier = verifierFor(embedder.id, USE_LITE_VERIFIER, {
    threshold: config.threshold,
    cosineThreshold: config.cosineThreshold,
  });
  const onError = deps.onError ?? warn;
  // The log needs the cache and the cache reports to the log: tie them after both exist.
  let log: SharedLog | undefined;
  const cache = await SemanticCache.open({
    embedder,
    verifier,
    candidates: config.candidates,
    maxEntries: config.maxEntries,
    maxTextChars: config.maxTextChars,
    exactScanMax: config.index.exactScanMax,
    hnsw: {
      connectivity: config.index.connectivity,
      expansionAdd: config.index.expansionAdd,
      expansionSearch: config.index.expansionSearch,
      quantization: config.index.quantization,
    },
    dir: deps.dataDir ? join(deps.dataDir, 'semantic') : undefined,
    onChange: deps.shared ? (change: SemanticChange) => log?.publish(change) : undefined,
  });
  if (deps.shared) {
    log = new SharedLog(cache, embedder.id, {
      url: deps.shared.url,
      keyPrefix: deps.shared.keyPrefix,
      maxLength: config.streamMaxLength,
      onError: (what, error) => onError(`shared log ${what}`, error),
    });
    // Replays what other instances stored since this one's saved state (or everything kept).
    await log.start();
  }
  const timers: NodeJS.Timeout[] = [];
  // Expired entries are also skipped at lookup; the sweep only frees their memory.
  const sweep = () => void cache.sweepExpired().catch((error) => onError('sweep', error));
  timers.push(setInterval(sweep, 60_000).unref());
  if (config.saveIntervalSeconds > 0 && cache.dir) {
    const save = () => void cache.save().catch((error) => onError('save', error));
    timers.push(setInterval(save, config.saveIntervalSeconds * 1000).unref());
  }
  return {
    cache,
    embedder,
    log,
    async close() {
      for (const timer of timers) clearInterval(timer);
      // Stop tailing first, so the cursor saved with the entries is the last change applied.
      await log?.close();
      await cache.close();
      await embedder.close();
    },
  };
}

function warn(what: string, error: unknown): void {
  console.warn(`semantic cache: ${what} failed:`, error);
}
