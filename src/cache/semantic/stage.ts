/**
 * The semantic cache (L2) as a pipeline stage; goes right after the exact-cache stage.
 *
 * It works only on requests the exact cache found cacheable (the exact stage leaves the
 * request's exact key in `ctx.cacheKey`): the semantic entry points at that key, so a semantic
 * hit replays a response the exact cache stored. On a miss, once the answer has gone out
 * completely, the question is recorded under that key. A hit says its similarity in
 * `x-sluice-similarity`.
 */
import { cacheDirectives } from '../policy.js';
import { scopeOf } from '../key.js';
import { observeLookup } from '../../observe/observation.js';
import { afterReply } from '../../pipeline/reply.js';
import { withSideCallParent } from '../../cost/side-cost.js';
import type { Caller, Reply, RequestContext, RouteName, Stage } from '../../pipeline/types.js';
import type { CacheScope } from '../config.js';
import type { SemanticCache } from './cache.js';
import type { SemanticCacheConfig } from './config.js';
import { semanticPartition, semanticRequest } from './request.js';

export interface SemanticStageDeps {
  cache: SemanticCache;
  config: SemanticCacheConfig;
  /**
   * Turns a stored entry's exact-cache key into the reply for this request (JSON, or SSE
   * replay when `ctx.stream`), or undefined when the stored response is gone.
   */
  resolve: (entryKey: string, ctx: RequestContext) => Promise<Reply | undefined>;
  /** Failed lookups / inserts are reported here; the request carries on as a miss. */
  onError?: (what: string, error: unknown) => void;
}

/**
 * The partition a caller's request is looked up and stored in: its scope (an unambiguous
 * `scopeOf` string, so tenants whose names merely concatenate alike stay apart), route, model
 * and the exact part of the request (`semanticRequest(...).context`).
 */
export function callerPartition(
  mode: CacheScope,
  caller: Caller,
  route: RouteName,
  model: string,
  context: Record<string, unknown>,
): string {
  return semanticPartition([scopeOf(mode, caller), route, model, context]);
}

export function semanticCacheStage(deps: SemanticStageDeps): Stage {
  const { cache, config, resolve } = deps;
  if (!config.enabled)
    throw new TypeError('semanticCacheStage: leave the stage out when the cache is disabled');
  const onError = deps.onError ?? (() => {});
  const routes = new Set(config.routes);
  const models = new Set(config.models);
  const keys = new Set(config.keys);

  return async (ctx, next) => {
    const entryKey = ctx.cacheKey;
    if (entryKey === undefined || ctx.cache !== 'miss') return next();
    if (routes.size > 0 && !routes.has(ctx.route as 'chat' | 'messages')) return next();
    if (models.size > 0 && !models.has(ctx.requestedModel)) return next();
    if (keys.size > 0 && !(ctx.caller.keyId && keys.has(ctx.caller.keyId))) return next();
    const request = semanticRequest(ctx.dialect, ctx.body, config);
    if (!request) return next();
    const directives = cacheDirectives(ctx.headers);
    if (directives.noStore) return next();
    const partition = callerPartition(config.scope, ctx.caller, ctx.route, ctx.model, request.context);

    if (!directives.noCache) {
      const observed = observeLookup(ctx, 'semantic');
      const hit = await lookup(ctx, partition, request.text);
      observed.end(hit !== undefined);
      if (hit) return hit;
    }

    const reply = await next();
    const ttlSeconds = directives.ttlSeconds ?? config.ttlSeconds;
    if (reply.status !== 200 || ctx.cache !== 'miss' || ctx.flightFollower === true || ttlSeconds === 0) {
      return reply;
    }
    return afterReply(reply, (outcome) => {
      if (!outcome.completed) return;
      // After the exact stage (outside this one) has stored the response for this key.
      setImmediate(() => {
        cache
          .insert(partition, request.text, entryKey, ttlSeconds)
          .catch((error) => onError('insert', error));
      });
    });
  };

  async function lookup(ctx: RequestContext, partition: string, text: string): Promise<Reply | undefined> {
    try {
      // A provider embedder's call is a side call of this request (its cost adds to this one's).
      const result = await withSideCallParent(ctx, () => cache.lookup(partition, text));
      if (!result.hit) return undefined;
      const reply = await resolve(result.entryKey, ctx);
      if (!reply) {
        // The stored response expired or was purged: the pointer is useless now.
        cache.delete(result.entryKey);
        return undefined;
      }
      ctx.cache = 'semantic';
      ctx.responseHeaders['x-sluice-cache'] = 'semantic';
      ctx.responseHeaders['x-sluice-similarity'] = result.similarity.toFixed(4);
      return reply;
    } catch (error) {
      // An embedder failure must not fail the request: it simply is not a hit.
      onError('lookup', error);
      return undefined;
    }
  }
}
