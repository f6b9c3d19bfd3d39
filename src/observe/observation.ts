/**
 * One request as observability sees it while it runs: its root span (when tracing), when its
 * upstream calls started and ended, when its first chunk went out. Stages report through the
 * small helpers below (one to three lines at each call site); with no observation on the
 * context (observability off, or a stage used alone) every helper returns a shared no-op and
 * builds nothing.
 */
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { parseTraceParent, TraceState } from '@opentelemetry/core';
import { afterReply } from '../pipeline/reply.js';
import type { StreamCapture } from '../cache/stream-capture.js';
import type { JsonReply, Reply, RequestContext } from '../pipeline/types.js';
import type { GatewayMetrics } from './metrics.js';
import { GEN_AI } from './tracing.js';

/** What the helpers need from the gateway's observability. */
export interface ObserveHub {
  readonly metrics: GatewayMetrics | undefined;
  readonly tracer: Tracer | undefined;
  /** Langfuse receives the spans: mark them with its observation types. */
  readonly langfuseEnabled: boolean;
}

export class RequestObservation {
  readonly hub: ObserveHub;
  /** performance.now() at arrival. */
  readonly startedAt = performance.now();
  readonly root: Span | undefined;
  readonly rootContext: Context | undefined;
  upstreamStartedAt: number | undefined;
  upstreamEndedAt: number | undefined;
  firstChunkAt: number | undefined;
  attempts = 0;
  /** Set once the request has been reported (metrics, span end, log line). */
  finished = false;
  /** The JSON reply, kept when the answer is logged or traced. */
  jsonReply: JsonReply | undefined;
  /** A streamed reply's bytes, kept when its content is logged or sent to Langfuse. */
  streamCapture: StreamCapture | undefined;

  readonly #headers: RequestContext['headers'];

  constructor(hub: ObserveHub, ctx: RequestContext) {
    this.hub = hub;
    this.#headers = ctx.headers;
    if (!hub.tracer) return;
    const parent = remoteParent(ctx);
    const operation = operationOf(ctx);
    const attributes: Attributes = {
      [GEN_AI.operationName]: operation,
      [GEN_AI.requestModel]: ctx.requestedModel,
      'sluice.request_id': ctx.id,
      'sluice.route': ctx.route,
      'sluice.priority': ctx.priority,
      'sluice.stream': ctx.stream,
    };
    const body = ctx.body;
    const maxTokens = body.max_tokens ?? body.max_completion_tokens;
    if (typeof maxTokens === 'number') attributes[GEN_AI.requestMaxTokens] = maxTokens;
    if (typeof body.temperature === 'number') attributes[GEN_AI.requestTemperature] = body.temperature;
    if (typeof body.top_p === 'number') attributes[GEN_AI.requestTopP] = body.top_p;
    const session = ctx.headers['x-sluice-session'];
    if (typeof session === 'string' && session) {
      attributes['session.id'] = session;
      attributes[GEN_AI.conversationId] = session;
    }
    this.root = hub.tracer.startSpan(
      `${operation} ${ctx.requestedModel}`,
      { kind: SpanKind.SERVER, attributes, startTime: ctx.startedAt },
      parent,
    );
    this.rootContext = trace.setSpan(parent, this.root);
  }

  /**
   * The root span's trace id (the caller's, when it sent a traceparent). Without tracing, the
   * caller's own trace id, so its log lines still join its trace.
   */
  get traceId(): string | undefined {
    if (this.root) return this.root.spanContext().traceId;
    const header = this.#headers.traceparent;
    return typeof header === 'string' ? (parseTraceParent(header)?.traceId ?? undefined) : undefined;
  }

  /** The root span's id; without tracing, the caller's parent span id. */
  get spanId(): string | undefined {
    if (this.root) return this.root.spanContext().spanId;
    const header = this.#headers.traceparent;
    return typeof header === 'string' ? (parseTraceParent(header)?.spanId ?? undefined) : undefined;
  }

  upstreamSeconds(): number | undefined {
    if (this.upstreamStartedAt === undefined) return undefined;
    return ((this.upstreamEndedAt ?? performance.now()) - this.upstreamStartedAt) / 1000;
  }

  ttftSeconds(): number | undefined {
    return this.firstChunkAt === undefined ? undefined : (this.firstChunkAt - this.startedAt) / 1000;
  }

  /** Child spans not ended yet: a step cut short by an error is ended with the request. */
  #open: Set<Span> | undefined;

  child(name: string, kind: SpanKind, attributes?: Attributes, startTime?: number): Span | undefined {
    // A request sampled out has a non-recording root: its steps are not worth a span either.
    if (!this.root?.isRecording()) return undefined;
    const span = this.hub.tracer?.startSpan(name, { kind, attributes, startTime }, this.rootContext);
    if (span) {
      this.#open ??= new Set();
      this.#open.add(span);
    }
    return span;
  }

  endChild(span: Span): void {
    this.#open?.delete(span);
    span.end();
  }

  /** End the steps an error cut short (a refused queue wait, a failed body read), then the root. */
  endRoot(errorType: string | undefined): void {
    for (const span of this.#open ?? []) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorType ?? 'not finished' });
      if (errorType) span.setAttribute('error.type', errorType);
      span.end();
    }
    this.#open = undefined;
    this.root?.end();
  }
}

/** The caller's `traceparent` (and `tracestate`), when well-formed: the request joins that trace. */
function remoteParent(ctx: RequestContext): Context {
  const header = ctx.headers.traceparent;
  if (typeof header !== 'string') return ROOT_CONTEXT;
  const parsed = parseTraceParent(header);
  if (!parsed) return ROOT_CONTEXT;
  const state = ctx.headers.tracestate;
  return trace.setSpanContext(ROOT_CONTEXT, {
    ...parsed,
    isRemote: true,
    ...(typeof state === 'string' ? { traceState: new TraceState(state) } : {}),
  });
}

export function operationOf(ctx: RequestContext): string {
  return ctx.route === 'embeddings' ? 'embeddings' : 'chat';
}

// --- Stage helpers -------------------------------------------------------------------------

export interface LookupObservation {
  end(hit: boolean): void;
}
const NO_LOOKUP: LookupObservation = { end() {} };

/** A cache lookup (`exact`, `semantic`): counted by outcome, a child span when tracing. */
export function observeLookup(ctx: RequestContext, layer: 'exact' | 'semantic'): LookupObservation {
  const obs = ctx.observation;
  if (!obs) return NO_LOOKUP;
  const span = obs.child(`cache.${layer} lookup`, SpanKind.INTERNAL, { 'sluice.cache.layer': layer });
  if (span && obs.hub.langfuseEnabled) span.setAttribute('langfuse.observation.type', 'span');
  return {
    end(hit) {
      obs.hub.metrics?.cacheLookup(layer, hit);
      if (span) {
        span.setAttribute('sluice.cache.hit', hit);
        obs.endChild(span);
      }
    },
  };
}

export interface QueueObservation {
  end(waitedMs: number): void;
}
const NO_QUEUE: QueueObservation = { end() {} };

/**
 * Waiting for an upstream slot: the wait histogram, and, when tracing and the request did
 * wait, a child span over the wait (most requests take a free slot at once: no span for those).
 */
export function observeQueue(ctx: RequestContext, upstream: string): QueueObservation {
  const obs = ctx.observation;
  if (!obs) return NO_QUEUE;
  const startedAt = Date.now();
  return {
    end(waitedMs) {
      obs.hub.metrics?.queueWait(upstream, waitedMs / 1000);
      if (waitedMs <= 0) return;
      const span = obs.child('queue wait', SpanKind.INTERNAL, { 'sluice.upstream': upstream }, startedAt);
      if (!span) return;
      if (obs.hub.langfuseEnabled) span.setAttribute('langfuse.observation.type', 'span');
      span.setAttribute('sluice.queue_wait_ms', waitedMs);
      obs.endChild(span);
    },
  };
}

export interface AttemptObservation {
  /** The attempt failed: the upstream's status, or the gateway's error code for a transport failure. */
  failed(result: number | string): void;
  /** The attempt answered 2xx: ends now for JSON, at the stream's end for a stream. */
  answered(reply: Reply): Reply;
}
const NO_ATTEMPT: AttemptObservation = { failed() {}, answered: (reply) => reply };

/**
 * One upstream attempt (kind CLIENT). When tracing, the outgoing `traceparent` names this
 * attempt's span, so the provider's side of the trace hangs under it.
 */
export function observeAttempt(
  ctx: RequestContext,
  upstream: string,
  provider: string,
  model: string,
  headers: Record<string, string>,
): AttemptObservation {
  const obs = ctx.observation;
  if (!obs) return NO_ATTEMPT;
  const retry = obs.attempts > 0;
  obs.attempts++;
  obs.upstreamStartedAt ??= performance.now();
  const span = obs.child(`${operationOf(ctx)} ${model}`, SpanKind.CLIENT, {
    [GEN_AI.operationName]: operationOf(ctx),
    [GEN_AI.providerName]: provider,
    [GEN_AI.requestModel]: model,
    'sluice.upstream': upstream,
    'sluice.attempt': obs.attempts,
  });
  if (span && obs.hub.langfuseEnabled) span.setAttribute('langfuse.observation.type', 'span');
  // Sampled out, the request's own (non-recording) span still names the trace for the provider.
  const sc = (span ?? obs.root)?.spanContext();
  if (sc) headers.traceparent = `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}`;
  const end = (result: number | string) => {
    obs.upstreamEndedAt = performance.now();
    obs.hub.metrics?.upstreamAttempt(upstream, result, retry);
    if (!span) return;
    if (typeof result === 'number') span.setAttribute('http.response.status_code', result);
    else span.setAttribute('error.type', result);
    if (typeof result === 'string' || result >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
    obs.endChild(span);
  };
  return {
    failed: end,
    answered(reply) {
      obs.root?.setAttribute(GEN_AI.providerName, provider);
      if (reply.kind === 'json') {
        end(reply.status);
        return reply;
      }
      return afterReply(reply, (outcome) => end(outcome.completed ? reply.status : 'client_closed'));
    },
  };
}
