import { setTimeout as sleep } from 'node:timers/promises';
import { errors as undiciErrors } from 'undici';
import { DIALECTS, type ParsedEvent } from '../dialect/index.js';
import { afterReply, dropEvents, observeEvents } from '../pipeline/reply.js';
import { SluiceError } from '../errors.js';
import {
  type StreamTransducer,
  type TranslationConfig,
  translationConfigSchema,
} from '../dialect/translate/index.js';
import { ReplyEvents } from '../pipeline/stream-observer.js';
import type {
  Dialect,
  JsonReply,
  Reply,
  RequestContext,
  Stage,
  StreamReply,
  Usage,
} from '../pipeline/types.js';
import { reportUpstreamThrottle } from '../flow/queue-stage.js';
import { observeAttempt } from '../observe/observation.js';
import { type Candidate, type UpstreamRouter, UPSTREAM_KIND_OF } from '../route/upstreams.js';
import type { AttemptVerdict } from './circuit-breaker.js';
import type { UpstreamPools, UpstreamTarget } from './pool.js';
import { buildUpstreamHeaders, isForwardedResponseHeader, PROVIDERS } from './providers.js';
import { backoffMs, isRetryableStatus, retryAfterMs } from './retry.js';
import type { SecretScrubber } from './scrub.js';
import { type UpstreamCall, upstreamCallFor } from './translated-call.js';
import { servingCandidates } from './wire.js';

/** Reads the provider's usage from a reply; supplied by the token-economy module. */
export interface UsageReader {
  fromJson(dialect: Dialect, parsed: unknown): Usage | undefined;
  /** A meter subscribed to the stream observer; `usage()` is read once the stream ends. */
  streamMeter(dialect: Dialect): { onEvent(event: ParsedEvent): void; usage(): Usage | undefined };
  /**
   * Adjust a streaming request before it goes upstream, and name the events to keep from the
   * client (e.g. ask OpenAI for the usage chunk, then drop it if the client did not ask).
   */
  prepareStream?(
    dialect: Dialect,
    body: Record<string, unknown>,
  ): { body: Record<string, unknown>; dropEvent?: (event: ParsedEvent) => boolean };
}

export interface UpstreamStageDeps {
  router: UpstreamRouter;
  pools: UpstreamPools;
  usage: UsageReader;
  /** For calls translated to the other dialect (a model only the other kind of upstream serves); defaults as in config. */
  translation?: TranslationConfig;
  /** Called for every failed attempt (for logs/metrics); never given secrets. */
  onAttemptFailed?: (
    ctx: RequestContext,
    info: { upstream: string; status?: number; error?: string },
  ) => void;
}

interface Attempted {
  call: UpstreamCall;
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/**
 * The terminal stage: send the request to the first candidate upstream, retrying 429/5xx and
 * connection errors with backoff that honours Retry-After, within the request's deadline,
 * then falling back to the next candidate. A stream is committed once the upstream answers
 * 200: from then on nothing is retried, so no byte reaches the client twice.
 *
 * An upstream whose circuit is open (circuit-breaker.ts) is skipped without an attempt or a
 * wait, so the fallback answers at once; when every candidate is open the answer is 503
 * `circuit_open` with Retry-After = the shortest remaining cool-down.
 */
export function upstreamStage(deps: UpstreamStageDeps): Stage {
  const translation = deps.translation ?? translationConfigSchema.parse({});
  return async (ctx) => {
    // Chat, messages and Responses requests may cross to the other kind's upstreams
    // (translated); embeddings and legacy completions stay on their own kind.
    const acrossKinds = ctx.route !== 'embeddings' && ctx.route !== 'completions';
    const candidates = servingCandidates(
      ctx,
      deps.router.candidates(UPSTREAM_KIND_OF[ctx.dialect], ctx.model, acrossKinds),
    );
    const calls = new Map<string, UpstreamCall>();
    let lastFailure: Attempted | undefined;
    let lastError: SluiceError | undefined;
    const skipped: Skipped[] = [];
    let previous: 'failed' | 'unused' = 'unused';
    for (const [i, candidate] of candidates.entries()) {
      let call: UpstreamCall;
      try {
        call = upstreamCallFor(ctx, candidate.upstream, translation, calls);
      } catch (e) {
        // Untranslatable: a 400 for the first candidate; a fallback that cannot take it is skipped.
        if (i === 0 || !(e instanceof SluiceError)) throw e;
        lastError ??= e;
        continue;
      }
      const target = deps.pools.get(candidate.upstream.name);
      // The queue stage holds a permit from the routed upstream's limiter; another upstream is
      // called under a permit from its own (an open circuit is skipped below without one).
      if (ctx.queueOn && target.breaker?.state !== 'open')
        await ctx.queueOn(target.config.name, candidate.model, previous);
      const outcome = await tryCandidate(ctx, deps, target, candidate, call);
      if (!outcome.skipped) previous = 'failed';
      if (outcome.reply) return call.reply(outcome.reply);
      if (outcome.skipped) skipped.push({ upstream: target.config.name, ...outcome.skipped });
      lastFailure = outcome.failure ?? lastFailure;
      lastError = outcome.error ?? lastError;
    }
    if (lastFailure) return lastFailure.call.reply(passThroughError(lastFailure));
    if (lastError) throw lastError;
    if (skipped.length > 0 && skipped.length === candidates.length) throw allOpenError(ctx, skipped);
    throw new SluiceError('upstream_unreachable', 'no upstream answered');
  };
}

interface Skipped {
  upstream: string;
  retryAfterMs: number;
  reason: string;
}

function allOpenError(ctx: RequestContext, skipped: Skipped[]): SluiceError {
  const retryAfterMs = Math.min(...skipped.map((s) => s.retryAfterMs));
  const which = skipped.map((s) => `'${s.upstream}' (${s.reason})`).join(', ');
  return new SluiceError(
    'circuit_open',
    `no upstream is available for model '${ctx.model ?? 'unknown'}': ${which}; retry later`,
    {
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      details: { reason: 'circuit_open', upstreams: skipped.map((s) => s.upstream) },
    },
  );
}

/** What an attempt's answer says about the upstream's health (429 is flow control's business). */
function verdictOfStatus(status: number): AttemptVerdict {
  if (status >= 500) return 'failure';
  return status === 429 ? 'neutral' : 'success';
}

async function tryCandidate(
  ctx: RequestContext,
  deps: UpstreamStageDeps,
  target: UpstreamTarget,
  candidate: Candidate,
  call: UpstreamCall,
): Promise<{
  reply?: Reply;
  failure?: Attempted;
  error?: SluiceError;
  /** Set when the circuit refused the first attempt: nothing was sent. */
  skipped?: { retryAfterMs: number; reason: string };
}> {
  const path = PROVIDERS[target.config.kind].paths[call.route];
  if (!path)
    throw new SluiceError('invalid_request', `upstream '${target.config.name}' has no ${call.route} route`);
  let body = candidate.model === call.body.model ? call.body : { ...call.body, model: candidate.model };
  let dropEvent: ((event: ParsedEvent) => boolean) | undefined;
  // A translated stream already asks for usage and its transducer consumes the usage chunk.
  if (ctx.stream && deps.usage.prepareStream && !call.translated) {
    const prepared = deps.usage.prepareStream(call.dialect, body);
    body = prepared.body;
    dropEvent = prepared.dropEvent;
  }
  // Nothing changed the client's request (same object, same model): its own bytes go, unserialised.
  const payload = body === ctx.clientBody && ctx.rawBody ? ctx.rawBody : JSON.stringify(body);
  const headers = buildUpstreamHeaders(
    target.config.kind,
    ctx.headers,
    target.apiKey,
    target.config.headers,
    target.config.forwardHeaderPrefixes,
  );
  const { maxAttempts, baseDelayMs, maxDelayMs } = target.retry;
  let failure: Attempted | undefined;
  let error: SluiceError | undefined;

  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const sentAt = Date.now();
    const remaining = ctx.deadline - sentAt;
    if (remaining <= 0) throw deadlineError();
    const decision = await target.breaker?.acquire();
    if (decision && !decision.allowed) {
      if (attempt === 0) return { skipped: { retryAfterMs: decision.retryAfterMs, reason: decision.reason } };
      break; // opened during this request's retries: the next candidate, without the backoff
    }
    const permit = decision?.permit;
    const headersTimeout = Math.min(target.timeouts.firstByteMs, remaining);
    let response: Awaited<ReturnType<UpstreamTarget['pool']['request']>>;
    const observed = observeAttempt(ctx, target.config.name, target.config.kind, candidate.model, headers);
    try {
      response = await target.pool.request({
        path: target.basePath + path,
        method: 'POST',
        headers,
        body: payload,
        signal: upstreamSignal(ctx),
        headersTimeout,
      });
    } catch (e) {
      const mapped = mapTransportError(e, target.config.name, ctx.deadline);
      // A timeout the request's own short deadline caused says nothing about the upstream.
      const cutByDeadline =
        mapped.code === 'upstream_timeout' && headersTimeout < target.timeouts.firstByteMs;
      permit?.settle(mapped.code === 'client_closed' || cutByDeadline ? 'neutral' : 'failure');
      observed.failed(mapped.code);
      if (mapped.code === 'client_closed') throw mapped;
      deps.onAttemptFailed?.(ctx, { upstream: target.config.name, error: mapped.code });
      error = mapped;
      // The circuit just opened: waiting to retry would only delay the fallback.
      if (target.breaker?.state === 'open') break;
      if (!(await waitBeforeRetry(ctx, attempt, maxAttempts, backoffMs(attempt, baseDelayMs, maxDelayMs))))
        break;
      continue;
    }

    const status = response.statusCode;
    permit?.settle(verdictOfStatus(status));
    const forwarded = forwardedHeaders(response.headers, deps.pools.scrubber);
    if (status >= 200 && status < 300) {
      ctx.upstream = target.config.name;
      ctx.responseHeaders['x-sluice-model'] = candidate.model;
      if (ctx.stream)
        return { reply: observed.answered(streamReply(ctx, deps, call, response, forwarded, dropEvent)) };
      return { reply: observed.answered(await jsonReply(ctx, deps, call.dialect, response, forwarded)) };
    }

    const errorBody = deps.pools.scrubber.bytes(await readBody(response.body).catch(() => new Uint8Array()));
    failure = { call, status, headers: forwarded, body: errorBody };
    observed.failed(status);
    deps.onAttemptFailed?.(ctx, { upstream: target.config.name, status });
    if (!isRetryableStatus(status)) return { failure: undefined, reply: passThroughError(failure) };
    const asked = retryAfterMs(response.headers);
    const wait = asked ?? backoffMs(attempt, baseDelayMs, maxDelayMs);
    // Flow control reacts at this first 429, not when the retries are spent.
    if (status === 429) reportUpstreamThrottle(ctx, { sentAt, retryAfterMs: asked });
    if (target.breaker?.state === 'open') break;
    if (!(await waitBeforeRetry(ctx, attempt, maxAttempts, wait))) break;
  }
  return { failure, error };
}

/**
 * The signal that cancels the upstream call: the client's own, or, for a single-flight
 * leader, one that fires only when every client sharing the call has gone.
 */
function upstreamSignal(ctx: RequestContext): AbortSignal {
  return ctx.upstreamSignal ?? ctx.signal;
}

/** Sleep before the next attempt if one is left and the wait fits in the deadline. */
async function waitBeforeRetry(ctx: RequestContext, attempt: number, maxAttempts: number, waitMs: number) {
  if (attempt + 1 >= maxAttempts) return false;
  if (Date.now() + waitMs >= ctx.deadline) return false;
  try {
    await sleep(waitMs, undefined, { signal: upstreamSignal(ctx) });
  } catch {
    throw Date.now() >= ctx.deadline
      ? deadlineError()
      : new SluiceError('client_closed', 'client closed the connection');
  }
  return true;
}

async function jsonReply(
  ctx: RequestContext,
  deps: UpstreamStageDeps,
  dialect: Dialect,
  response: { statusCode: number; body: WholeBody },
  headers: Record<string, string>,
): Promise<JsonReply> {
  let body: Uint8Array;
  try {
    body = deps.pools.scrubber.bytes(await readBody(response.body));
  } catch (e) {
    throw mapTransportError(e, ctx.upstream ?? 'upstream', ctx.deadline);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    ctx.usage = deps.usage.fromJson(dialect, parsed);
  } catch {
    // A 2xx that is not JSON is passed through as it is; usage stays unknown.
  }
  headers['content-type'] = 'application/json';
  return { kind: 'json', status: response.statusCode, headers, body, parsed };
}

function streamReply(
  ctx: RequestContext,
  deps: UpstreamStageDeps,
  call: UpstreamCall,
  response: { statusCode: number; body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown } },
  headers: Record<string, string>,
  dropEvent: ((event: ParsedEvent) => boolean) | undefined,
): Reply {
  const meter = deps.usage.streamMeter(call.dialect);
  const upstreamName = ctx.upstream ?? 'upstream';
  // 2xx streams are scrubbed too: the provider's own SSE error events ride in them, and the
  // check is one indexOf per key per chunk (see scrub.ts).
  const scrub = deps.pools.scrubber.stream();
  async function* relay() {
    let finished = false;
    try {
      for await (const chunk of response.body) {
        const clean = scrub.push(chunk);
        if (clean.byteLength > 0) yield clean;
      }
      const held = scrub.flush();
      if (held) yield held;
      finished = true;
    } catch (e) {
      throw mapTransportError(e, upstreamName, ctx.deadline);
    } finally {
      if (!finished) response.body.destroy();
    }
  }
  headers['content-type'] = 'text/event-stream; charset=utf-8';
  headers['cache-control'] = 'no-cache';
  const upstreamReply: StreamReply = {
    kind: 'stream',
    status: response.statusCode,
    headers,
    chunks: relay(),
  };
  let reply: StreamReply;
  if (!call.streamTransducer && !call.clientStream) {
    // Native: parsed once, here; the meter, cache capture (and metrics) read the events, not the bytes.
    ctx.replyEvents.subscribe((event) => meter.onEvent(event));
    reply = observeEvents(upstreamReply, ctx.replyEvents);
    if (dropEvent) reply = dropEvents(reply, dropEvent);
  } else {
    // Translated: the upstream's stream is parsed once for the meter (usage of the model that
    // answered) and the transducer; the request's observer (cache capture, metrics) gets the
    // client-dialect events the translation produces, parsed as they leave it.
    const upstreamEvents = new ReplyEvents();
    upstreamEvents.subscribe((event) => meter.onEvent(event));
    let upstream = observeEvents(upstreamReply, upstreamEvents);
    if (dropEvent) upstream = dropEvents(upstream, dropEvent);
    let chunks = call.streamTransducer
      ? translated(upstream.chunks, upstreamEvents, call.streamTransducer())
      : upstream.chunks;
    if (call.clientStream) chunks = call.clientStream(chunks);
    // Stages subscribe before calling on, so nobody listening now means nobody will.
    reply = { ...upstreamReply, chunks };
    if (ctx.replyEvents.listening) reply = observeEvents(reply, ctx.replyEvents);
  }
  ctx.usageSoFar = () => meter.usage();
  // First done-observer of the stream, so every stage's own sees ctx.usage. An aborted or broken
  // stream still spent tokens: the meter then estimates the partial output.
  return afterReply(reply, () => {
    ctx.usage = meter.usage();
  });
}

/**
 * The client's bytes of a translated stream: each upstream chunk's events (parsed once, by the
 * observer the upstream's chunks come through) pushed through the transducer. A transport
 * failure propagates (the edge writes it as an error event in the client's dialect); so does
 * an upstream that ended early.
 */
async function* translated(
  upstream: AsyncIterable<Uint8Array>,
  events: ReplyEvents,
  transducer: StreamTransducer,
): AsyncGenerator<Uint8Array> {
  let out = '';
  // A transducer that throws (not an upstream error, which it turns into an error event) ends
  // the stream with that error, as if it had read the bytes itself.
  let broken: { error: unknown } | undefined;
  events.subscribe((event) => {
    if (broken) return;
    try {
      out += transducer.push(event);
    } catch (error) {
      broken = { error };
    }
  });
  for await (const _chunk of upstream) {
    if (broken) throw broken.error;
    if (!out) continue;
    const text = out;
    out = '';
    yield Buffer.from(text);
  }
  if (broken) throw broken.error;
  // The observer emits the parser's last events before the upstream's iteration ends.
  out += transducer.end();
  if (out) yield Buffer.from(out);
}

function passThroughError(failure: Attempted): JsonReply {
  return {
    kind: 'json',
    status: failure.status,
    headers: { ...failure.headers, 'content-type': 'application/json' },
    body:
      failure.body.byteLength > 0 ? failure.body : fallbackErrorBody(failure.call.dialect, failure.status),
  };
}

function fallbackErrorBody(dialect: Dialect, status: number): Uint8Array {
  const message = `upstream answered ${status} with an empty body`;
  return Buffer.from(JSON.stringify(DIALECTS[dialect].upstreamErrorBody(message)));
}

function forwardedHeaders(
  headers: Record<string, string | string[] | undefined>,
  scrubber: SecretScrubber,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const v = headers[name];
    if (typeof v === 'string' && isForwardedResponseHeader(name)) out[name] = v;
  }
  return scrubber.headers(out);
}

/** An undici response body, read whole. */
interface WholeBody {
  bytes(): Promise<Uint8Array>;
}

/** undici's own consumer: data listeners, no async iterator and promise per chunk. */
function readBody(body: WholeBody): Promise<Uint8Array> {
  return body.bytes();
}

const deadlineError = () =>
  new SluiceError('upstream_timeout', 'request deadline passed before the upstream finished');

/**
 * Translate undici's errors into the gateway's; messages never contain request headers.
 * An abort at the deadline is the deadline's own timer, not the client leaving.
 */
export function mapTransportError(e: unknown, upstream: string, deadline: number): SluiceError {
  if (e instanceof SluiceError) return e;
  const err = e as { name?: string; code?: string; message?: string };
  const aborted =
    err?.name === 'AbortError' || err?.name === 'TimeoutError' || err?.code === 'UND_ERR_ABORTED';
  if (aborted && Date.now() >= deadline) return deadlineError();
  if (
    err?.name === 'AbortError' ||
    err?.code === 'UND_ERR_ABORTED' ||
    e instanceof undiciErrors.RequestAbortedError
  ) {
    return new SluiceError('client_closed', 'client closed the connection', { cause: e });
  }
  if (
    e instanceof undiciErrors.HeadersTimeoutError ||
    e instanceof undiciErrors.BodyTimeoutError ||
    err?.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    err?.code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new SluiceError('upstream_timeout', `upstream '${upstream}' timed out`, { cause: e });
  }
  if (e instanceof undiciErrors.ConnectTimeoutError || err?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new SluiceError('upstream_timeout', `connecting to upstream '${upstream}' timed out`, {
      cause: e,
    });
  }
  return new SluiceError(
    'upstream_unreachable',
    `upstream '${upstream}' is unreachable (${err?.code ?? err?.name ?? 'error'})`,
    {
      cause: e,
    },
  );
}
