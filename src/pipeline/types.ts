import type { IncomingHttpHeaders } from 'node:http';
import type { KeyRecord } from '../auth/keys.js';
import type { SideCost } from '../cost/side-cost.js';
import type { RequestObservation } from '../observe/observation.js';
import type { PromptCountMemo } from '../tokens/count.js';
import type { Delivery } from './delivery.js';
import type { ReplyEvents } from './stream-observer.js';

import type { Dialect, RouteName, Usage } from '../dialect/types.js';

export type { Dialect, RouteName, Usage };
export type Priority = 'high' | 'normal' | 'low';

/** Who is calling. Filled by the auth stage (virtual key) or from x-sluice-user / body.user. */
export interface Caller {
  user: string;
  team?: string;
  /** Id of the virtual key (never the key itself). */
  keyId?: string;
  tier?: string;
}

export type CacheOutcome = 'exact' | 'semantic' | 'miss' | 'bypass';

/**
 * A reply travels back up the pipeline. Bodies are bytes in the route's dialect so the
 * common case (same dialect upstream) forwards without re-serialising.
 */
export type Reply = JsonReply | StreamReply;

export interface JsonReply {
  kind: 'json';
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  /** Parsed body, when some stage already parsed it (avoid parsing twice). */
  parsed?: unknown;
}

export interface StreamReply {
  kind: 'stream';
  status: number;
  headers: Record<string, string>;
  /** Raw SSE bytes, in the route's dialect, chunk by chunk as they arrive. */
  chunks: AsyncIterable<Uint8Array>;
}

export interface RequestContext {
  readonly id: string;
  readonly dialect: Dialect;
  readonly route: RouteName;
  readonly headers: IncomingHttpHeaders;
  /** The parsed request body. Stages that change the request replace it with a changed copy. */
  body: Record<string, unknown>;
  /** The body as the client sent it, never changed: what caches key on. */
  readonly clientBody: Readonly<Record<string, unknown>>;
  /**
   * The bytes `clientBody` was parsed from (absent for in-process calls). While `body` is still
   * `clientBody` no stage changed the request, so the upstream stage sends these bytes as they
   * are instead of serialising the object again. A stage that changes the request must replace
   * `body` with a changed copy, never edit it in place.
   */
  readonly rawBody?: Uint8Array;
  readonly stream: boolean;
  /** Model the caller asked for (never changed). */
  readonly requestedModel: string;
  /** Model that will be sent upstream (routing may change it for aliases like `auto`). */
  model: string;
  caller: Caller;
  priority: Priority;
  /** Epoch ms after which the request fails with a timeout (queue time counts). */
  readonly deadline: number;
  /** Aborted when the client disconnects. */
  readonly signal: AbortSignal;
  readonly startedAt: number;
  /** Headers to add to the response whatever its source (cache, upstream, error). */
  readonly responseHeaders: Record<string, string>;
  cache: CacheOutcome;
  /** Filled when the reply's usage is known (after a JSON reply, or at the end of a stream). */
  usage?: Usage;
  /** Name of the upstream that answered. */
  upstream?: string;
  // What one stage leaves for others. createContext sets each to undefined, so every context
  // has the same shape (property loads on the hot path stay monomorphic).
  /**
   * The virtual key that identified the caller. Written by the auth stage (a side call copies
   * its parent's, tokens/summariser.ts); read by the budget, compression and record stages.
   */
  virtualKey?: KeyRecord;
  /**
   * The exact-cache key of a cacheable request (it already encodes the scope). Written by the
   * exact-cache stage; single-flight, the flight lease and the semantic cache reuse it.
   */
  cacheKey?: string;
  /**
   * On a cache hit, what the call that stored the answer consumed (`usage` is zero on a hit:
   * nothing was billed). Written by the exact-cache stage; the record stage prices the avoided cost with it.
   */
  savedUsage?: Usage;
  /**
   * True when single-flight made this request a follower: it shares a leader's answer and pays
   * nothing. Read by the cache stages (only the leader stores the answer) and the record stage.
   */
  flightFollower?: boolean;
  /** Ms the request waited for its upstream permit(s), when it waited. Written by the queue stage; read by the request log and the root span. */
  queueWaitMs?: number;
  /**
   * On a streamed reply, the usage the stream has reported so far (`usage` is set only once it
   * is over). Written by the upstream stage; the record stage prices the stream with it just
   * before its final event, for the cost comment.
   */
  usageSoFar?: () => Usage | undefined;
  /** The request as observability sees it (spans, timings). Written by the observe stage; read through observe/observation.ts. */
  observation?: RequestObservation;
  /** Fingerprint of the prompt's cacheable prefix. Written by the prompt-cache stage; read by the prompt-cache monitor. */
  promptPrefix?: string;
  /** The prompt's token count and what it was counted from, so stages count once (tokens/count.ts `promptTokens`). */
  promptCount?: PromptCountMemo;
  /** The costs of the side calls made for this request so far. Written when a side call is recorded (cost/side-cost.ts); read by the record stage. */
  sideCost?: SideCost;
  /**
   * Set by single-flight on a leader: cancels the upstream call only when every client sharing
   * it has gone. The upstream stage uses it instead of `signal` when present.
   */
  upstreamSignal?: AbortSignal;
  /**
   * Set by the queue stage: the upstream stage calls it for every attempt the provider
   * answers 429 (`sentAt` epoch ms, the provider's Retry-After), so flow control backs off at
   * the first one (see flow/queue-stage.ts `reportUpstreamThrottle`).
   */
  reportThrottle?: (signal: { sentAt: number; retryAfterMs?: number }) => void;
  /**
   * Set by the queue stage, which took a permit from the routed (primary) upstream's limiter:
   * the upstream stage calls it before trying another upstream (a fallback), so the call waits
   * for a permit from that upstream's own limiter. The permit held so far is given back first,
   * `failed` when that upstream was called and failed, neutral when it was skipped unused.
   */
  queueOn?: (upstream: string, model: string, previous: 'failed' | 'unused') => Promise<void>;
  /** A call the gateway makes for itself (`summary`, `embedding`): recorded as such, never compressed. */
  purpose?: string;
  /** The request a side call (`purpose`) was made for: its cost is added to that request's (cost/side-cost.ts). */
  parent?: RequestContext;
  /** The stream observer: stages subscribe to the upstream stream's parsed events (stream-observer.ts). */
  readonly replyEvents: ReplyEvents;
  /** Set by the HTTP edge: what the client actually got (see delivery.ts). Absent in-process. */
  readonly delivery?: Delivery;
}

export type Next = () => Promise<Reply>;
export type Stage = (ctx: RequestContext, next: Next) => Promise<Reply>;
