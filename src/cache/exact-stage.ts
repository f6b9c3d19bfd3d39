import { observeLookup } from '../observe/observation.js';
import { whenDelivered } from '../pipeline/delivery.js';
import { afterReply } from '../pipeline/reply.js';
import type {
  CacheOutcome,
  JsonReply,
  Reply,
  RequestContext,
  Stage,
  StreamReply,
} from '../pipeline/types.js';
import type { CachedEntry } from './entry.js';
import type { ExactCache } from './exact-cache.js';
import { fromArray, replaySse } from './replay.js';
import { StreamCapture } from './stream-capture.js';
import { DIALECTS, ZERO_USAGE } from '../dialect/index.js';

/**
 * Why an answer was not served from or stored in the cache: a bypass reason (policy.ts) or,
 * on a JSON miss that is not stored, `ttl-0`, `error` or `incomplete` (the reply lacks its closing fields).
 * A stream's storage is decided after its headers are out, so streams only say bypass reasons.
 */
export const REASON_HEADER = 'x-sluice-cache-reason';

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * L1 exact cache as a pipeline stage. A hit answers at once (stored bytes for JSON, a
 * synthesized SSE stream for a streaming request); a miss goes on and its successful, complete
 * answer is stored in the background.
 *
 * It sets `ctx.cacheKey` on a cacheable request (single-flight and the semantic cache reuse
 * it) and `ctx.savedUsage` on a hit (`ctx.usage` is zero then: nothing was billed). A
 * single-flight follower (`ctx.flightFollower`) shares its leader's answer: only the leader stores it.
 */
export function exactCacheStage(cache: ExactCache): Stage {
  return async (ctx, next) => {
    // Keyed on the request as the client sent it (the budget stage may have capped its output).
    const { dialect, route, caller, headers } = ctx;
    const plan = cache.plan({ dialect, route, body: ctx.clientBody, caller, headers });
    if (!plan.use) {
      setOutcome(ctx, 'bypass');
      ctx.responseHeaders[REASON_HEADER] = plan.reason;
      return next();
    }
    ctx.cacheKey = plan.key;
    if (plan.lookup) {
      const observed = observeLookup(ctx, 'exact');
      const entry = await cache.lookup(plan.key);
      observed.end(entry !== undefined);
      if (entry) return hitReply(ctx, entry);
    }
    setOutcome(ctx, 'miss');
    // Subscribed before the call: the stream observer parses the upstream's stream once and
    // hands the events here, also when single-flight shares that stream with followers.
    const capture =
      plan.write && ctx.stream ? new StreamCapture(ctx.dialect, cache.config.maxBytes) : undefined;
    const unsubscribe = capture && ctx.replyEvents.subscribe((event) => capture.onEvent(event));
    const reply = await next();
    // Only a 200 that this miss produced: not an error, not another layer's hit, not a follower.
    if (!plan.write) ctx.responseHeaders[REASON_HEADER] = 'ttl-0';
    else if (reply.status !== 200 && ctx.cache === 'miss') ctx.responseHeaders[REASON_HEADER] = 'error';
    if (
      !plan.write ||
      reply.status !== 200 ||
      ctx.cache !== 'miss' ||
      ctx.flightFollower === true ||
      (reply.kind === 'stream' && !capture)
    ) {
      unsubscribe?.();
      return reply;
    }
    const write = { key: plan.key, ttlSeconds: plan.ttlSeconds };
    if (reply.kind === 'json' || !capture) {
      unsubscribe?.();
      return reply.kind === 'json' ? storeJson(cache, ctx, reply, write) : reply;
    }
    return captureStream(cache, ctx, reply, capture, write);
  };
}

function setOutcome(ctx: RequestContext, outcome: CacheOutcome): void {
  ctx.cache = outcome;
  ctx.responseHeaders['x-sluice-cache'] = outcome;
}

/**
 * The stored reply under `key`, shaped for this request (JSON, or SSE replay when streaming),
 * or undefined when it is gone. The semantic cache answers through this: its entries point at
 * exact-cache keys.
 */
export async function cachedReply(
  cache: ExactCache,
  key: string,
  ctx: RequestContext,
): Promise<Reply | undefined> {
  const entry = await cache.lookup(key);
  return entry && hitReply(ctx, entry);
}

function hitReply(ctx: RequestContext, entry: CachedEntry): Reply {
  setOutcome(ctx, 'exact');
  if (entry.model) ctx.responseHeaders['x-sluice-model'] = entry.model;
  ctx.usage = { ...ZERO_USAGE };
  if (entry.usage) ctx.savedUsage = entry.usage;
  if (!ctx.stream) {
    return { kind: 'json', status: 200, headers: { 'content-type': 'application/json' }, body: entry.body };
  }
  const response = JSON.parse(decoder.decode(entry.body)) as Record<string, unknown>;
  const chunks = replaySse(ctx.dialect, response, DIALECTS[ctx.dialect].wantsStreamUsage(ctx.body));
  return { kind: 'stream', status: 200, headers: { ...SSE_HEADERS }, chunks: fromArray(chunks) };
}

interface Write {
  key: string;
  ttlSeconds: number;
}

function storeJson(cache: ExactCache, ctx: RequestContext, reply: JsonReply, write: Write): Reply {
  let parsed: Record<string, unknown>;
  try {
    parsed = (reply.parsed ?? JSON.parse(decoder.decode(reply.body))) as Record<string, unknown>;
  } catch {
    cache.noteSkippedWrite();
    return reply;
  }
  const dialect = DIALECTS[ctx.dialect];
  if (!dialect.isCompleteReply(ctx.route, parsed)) {
    cache.noteSkippedWrite();
    ctx.responseHeaders[REASON_HEADER] = 'incomplete';
    return reply;
  }
  const entry: CachedEntry = {
    dialect: ctx.dialect,
    route: ctx.route,
    model: ctx.model,
    createdAt: Date.now(),
    ttlSeconds: write.ttlSeconds,
    usage: dialect.usage(parsed.usage) ?? ctx.usage,
    streamed: false,
    body: reply.body,
  };
  // A reply the edge could not write is not stored: whatever broke it would break every hit.
  whenDelivered(ctx, (delivered) => {
    if (delivered?.failure === 'reply_failed') cache.noteSkippedWrite();
    else cache.remember(write.key, entry);
  });
  return reply;
}

/**
 * Once the stream has ended cleanly, store the response its events (observed by `capture`)
 * amount to. A stream that errored, was cut or aborted by the client, or never sent its final
 * event is not stored. The capture sees the usage event even when the client is not sent it;
 * when the stream carried none, the usage the upstream stage measured (`ctx.usage`) completes
 * the stored response.
 */
function captureStream(
  cache: ExactCache,
  ctx: RequestContext,
  reply: StreamReply,
  capture: StreamCapture,
  write: Write,
): Reply {
  return afterReply(reply, (outcome) => {
    if (!outcome.completed) {
      cache.noteSkippedWrite();
      return;
    }
    const result = capture.finish();
    const dialect = DIALECTS[ctx.dialect];
    if (!result.ok || !dialect.isCompleteReply(ctx.route, result.response)) {
      cache.noteSkippedWrite();
      return;
    }
    const response = result.response;
    if (!response.usage && ctx.usage) response.usage = dialect.usageToWire(ctx.usage);
    cache.remember(write.key, {
      dialect: ctx.dialect,
      route: ctx.route,
      model: ctx.model,
      createdAt: Date.now(),
      ttlSeconds: write.ttlSeconds,
      usage: dialect.usage(response.usage) ?? ctx.usage,
      streamed: true,
      body: encoder.encode(JSON.stringify(response)),
    });
  });
}
