/**
 * The one interface every wire dialect implements. A dialect is a family of request, reply,
 * stream and error shapes (OpenAI chat completions + embeddings, Anthropic Messages, and —
 * added by implementing this interface — the OpenAI Responses API). Everything outside
 * `src/dialect/` reads and writes those shapes only through a `DialectSpec` taken from
 * `DIALECTS[dialect]` (src/dialect/index.ts), whose `satisfies Record<Dialect, DialectSpec>`
 * makes a new dialect a compile error until it implements every member.
 */
import type { z } from 'zod';
import type { ErrorCode, SluiceError } from '../errors.js';
import type { SseEvent } from './sse.js';

/**
 * The wire dialect of a route; decides the request/response/error/SSE shapes. `responses` is
 * OpenAI's Responses API: OpenAI's error shape, its own request, reply and typed SSE events.
 */
export type Dialect = 'openai' | 'anthropic' | 'responses';
/** An API route. Each belongs to exactly one dialect (`ROUTE_DIALECT` in index.ts). */
export type RouteName = 'chat' | 'messages' | 'embeddings' | 'completions' | 'responses';

type Json = Record<string, unknown>;

/**
 * Token usage in one normalised shape for every dialect. Input is split by rate: uncached,
 * cache read, cache write; `inputTokens` never includes the other two (OpenAI's
 * `prompt_tokens` does, Anthropic's `input_tokens` does not: each dialect's `usage` reader
 * takes care of that).
 */
export interface Usage {
  /** Input tokens billed at the normal rate (excludes cache reads and writes). */
  inputTokens: number;
  cacheReadTokens: number;
  /** All cache writes, 5-minute and 1-hour TTL together. */
  cacheWriteTokens: number;
  outputTokens: number;
  /** Part of `cacheWriteTokens` written with Anthropic's 1-hour TTL (priced higher than 5-minute writes). */
  cacheWrite1hTokens?: number;
  /** Reasoning tokens, already included in `outputTokens` (reported for insight only). */
  reasoningTokens?: number;
  /** True when counted locally because the provider reported nothing. */
  estimated?: boolean;
}

/** A stored answer replayed as a stream: the SSE events in order. */
export interface ReplayOptions {
  /** OpenAI chat: the client asked `stream_options.include_usage`, so the usage chunk is replayed. */
  includeUsage: boolean;
}

export type Aggregate<T> = { ok: true; response: T } | { ok: false; reason: string };

/**
 * Rebuilds the complete reply a stream amounts to (for the exact cache). Refuses (reason
 * given) a stream it cannot rebuild losslessly.
 */
export interface StreamAggregator {
  push(event: ParsedEvent): void;
  finish(): Aggregate<Json>;
}

/**
 * What one SSE event of a streamed reply says about usage. `merge`: the fields add to (and
 * overwrite) those seen before (Anthropic spreads usage over message_start and
 * message_delta); otherwise the object replaces them (OpenAI servers that send cumulative
 * usage on every chunk: the last one wins).
 */
export interface StreamUsagePatch {
  raw: Json;
  merge: boolean;
}

/** An event of a stream, with its JSON payload parsed at most once (see pipeline/stream-observer.ts). */
export interface ParsedEvent extends SseEvent {
  /** The payload as JSON; undefined when it is not JSON (`[DONE]`). Parsed on first call. */
  json(): unknown;
}

/** How the gateway reaches a provider that speaks this dialect natively. */
export interface ProviderWire {
  /** Path of each route under the upstream's API base path. */
  paths: Partial<Record<RouteName, string>>;
  authHeaders(key: string): Record<string, string>;
  /** Client headers forwarded upstream as they are (API versions and betas, never credentials). */
  forwardedRequestHeaders: readonly string[];
  defaultHeaders: Readonly<Record<string, string>>;
  /** The API path prefix requests start with, from the configured base URL. */
  apiBasePath(baseUrl: string): string;
}

/**
 * Where a dialect's system prompt sits. `messages`: as system/developer-role messages among the
 * others (OpenAI chat). `field`: in a top-level field of its own, text or a list of text blocks
 * (Anthropic `system`; the Responses API's `instructions`, text only), so every message is dialogue.
 */
export type SystemPromptPlacement =
  | { readonly in: 'messages' }
  | { readonly in: 'field'; readonly field: 'system' | 'instructions' };

/** How a prompt is counted before the provider reports usage (tokens/count.ts). */
export interface TokenCounting {
  /**
   * `tiktoken-by-model`: a model with a known tiktoken encoding (OpenAI's) is counted exactly,
   * any other is estimated; `estimate`: always estimated (the provider publishes no tokenizer).
   */
  readonly tokenizer: 'tiktoken-by-model' | 'estimate';
  /** What an estimate charges per image (the provider prices images by size, unknown here). */
  readonly imageEstimateTokens: number;
  /** The system prompt the provider adds when tools are sent, in tokens (0: none is documented). */
  readonly toolsSystemPromptTokens: number;
}

/** How the provider's prompt cache is steered and billed. */
export interface PromptCacheRules {
  /**
   * The request marks what to cache with `cache_control` breakpoints, which the gateway may
   * insert (tokens/prompt-cache.ts); false: the provider caches prefixes by itself.
   */
  readonly breakpoints: boolean;
  /** Cache writes are billed above plain input, so a budget reservation prices them (cost/budget-stage.ts). */
  readonly writesBilledAboveInput: boolean;
}

export interface DialectSpec {
  readonly name: Dialect;
  /** Routes in this dialect, each with its validation schema and cache-key field table. */
  readonly routes: Partial<Record<RouteName, RouteSpec>>;

  // --- request views (read-only; none changes the body) ---
  /** The model asked for ('' when absent). */
  model(body: Json): string;
  stream(body: Json): boolean;
  /** The output-token cap the request sets, if any. */
  maxOutputTokens(body: Json): number | undefined;
  /**
   * A copy of the body with its output-token cap set, in this dialect's field. `ownModel`:
   * the model is the dialect owner's own (OpenAI's reasoning models accept only
   * `max_completion_tokens`; other OpenAI-compatible servers know `max_tokens`).
   */
  withMaxOutputTokens(body: Json, tokens: number, ownModel: boolean): Json;
  /** The system prompt as text. */
  systemText(body: Json): string;
  /** The last user turn as text (what routing and the semantic cache look at). */
  lastUserText(body: Json): string;
  /** A streaming client of this dialect asked for the usage event (and must not get it otherwise). */
  wantsStreamUsage(body: Json): boolean;

  // --- prompt rules (how the provider reads a prompt: counting, shaping, caching) ---
  /** Where the system prompt sits (trim, compression, counting and prefix fingerprints read it there). */
  readonly systemPrompt: SystemPromptPlacement;
  /**
   * Message roles that carry a tool's result back (OpenAI `tool`, legacy `function`); the
   * semantic cache matches such requests exactly. Tool results that are content blocks
   * (`tool_result`) are found by block type in every dialect.
   */
  readonly toolResultRoles: readonly string[];
  readonly tokenCounting: TokenCounting;
  /**
   * The opt-in system-prompt trim and history compression (tokens/compress-stage.ts) reshape
   * this dialect's requests; false: they pass through unchanged.
   */
  readonly promptShaping: boolean;
  readonly promptCache: PromptCacheRules;

  // --- usage ---
  /** Normalise a provider `usage` object of this dialect; undefined when there is none. */
  usage(raw: unknown): Usage | undefined;
  /** The usage in this dialect's JSON (to complete a stored reply whose stream had none). */
  usageToWire(usage: Usage): Json;
  /** The usage an SSE event carries, if any. Cheap for events without usage. */
  streamUsage(event: ParsedEvent): StreamUsagePatch | undefined;

  // --- replies ---
  /** Generated text of a complete (JSON) reply: content, tool calls, reasoning. */
  replyText(reply: unknown): string;
  /** Generated text a stream event carries (for a local count when the provider reports none). */
  streamText(event: ParsedEvent): string;
  /** Why the model stopped, in this dialect's words, one per choice; undefined when the reply says nothing. */
  finishReasons(reply: unknown): string[] | undefined;
  /** The answer's message(s) of a complete reply, for logs and traces (undefined when none). */
  replyContent(reply: unknown): unknown;
  /** Is this parsed 2xx body a complete answer worth storing? */
  isCompleteReply(route: RouteName, reply: Json): boolean;

  // --- streams ---
  createAggregator(): StreamAggregator;
  /** A stored complete reply as the SSE text events the provider would have sent, in order. */
  replay(reply: Json, options: ReplayOptions): string[];
  /**
   * The body to send upstream for a streaming request so the stream reports usage
   * (OpenAI: `stream_options.include_usage`); `stripUsage` says the client did not ask, so the
   * extra usage event must be removed on the way back (`isUsageOnlyEvent`).
   */
  requestStreamUsage(body: Json): { body: Json; stripUsage: boolean };
  /** An event that exists only because `requestStreamUsage` asked for it. */
  isUsageOnlyEvent(event: ParsedEvent): boolean;

  // --- errors ---
  errorBody(e: SluiceError): Json;
  /** The same error as one SSE event, for failures after a stream has started. */
  errorEvent(e: SluiceError): string;
  /** This dialect's error type name for each gateway error code. */
  readonly errorTypes: Readonly<Record<ErrorCode, string>>;
  /** An upstream error with no body of its own, in this dialect's shape. */
  upstreamErrorBody(message: string): Json;

  // --- provider ---
  readonly provider: ProviderWire;
}

export interface RouteSpec {
  /** What the gateway relies on plus known parameters' documented types and ranges. */
  schema: z.ZodType;
  /** Fields this route's provider would refuse: `[field, why]`. */
  refusedFields: ReadonlyArray<readonly [string, string]>;
  /**
   * Exact-cache key table: true = the field can change the answer (request-fields.ts).
   * Absent for a route that is never cached (legacy completions, cache/policy.ts).
   */
  keyedFields?: Readonly<Record<string, boolean>>;
}
