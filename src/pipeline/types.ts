import type { IncomingHttpHeaders } from 'node:http';
import type { Delivery } from './delivery.js';

/**
 * The wire dialect of a route; decides the request/response/error/SSE shapes. `responses` is
 * OpenAI's Responses API: OpenAI's error shape, its own request, reply and typed SSE events.
 */
export type Dialect = 'openai' | 'anthropic' | 'responses';
export type RouteName = 'chat' | 'messages' | 'embeddings' | 'completions' | 'responses';
export type Priority = 'high' | 'normal' | 'low';

/** Who is calling. Filled by the auth stage (virtual key) or from x-sluice-user / body.user. */
export interface Caller {
  user: string;
  team?: string;
  /** Id of the virtual key (never the key itself). */
  keyId?: string;
  tier?: string;
}

/** Token usage in one normalised shape for both dialects. */
export interface Usage {
  /** Input tokens billed at the normal rate (excludes cache reads and writes). */
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  /** True when counted locally because the provider reported nothing. */
  estimated?: boolean;
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
  /** The parsed request body. Stages that change the request replace fields on it. */
  body: Record<string, unknown>;
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
  /** Free-form per-request notes stages share through the context (documented per key). */
  readonly notes: Map<string, unknown>;
  /** Set by the HTTP edge: what the client actually got (see delivery.ts). Absent in-process. */
  readonly delivery?: Delivery;
}

export type Next = () => Promise<Reply>;
export type Stage = (ctx: RequestContext, next: Next) => Promise<Reply>;
