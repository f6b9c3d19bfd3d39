/**
 * Observability assembled once at boot: metrics, traces (OTLP collector and/or Langfuse) and the
 * per-request log line, all fed from one "request finished" record — the ledger row the record
 * stage writes (`observer`) — plus the timings the stage helpers leave on the request's
 * observation. `stage` goes first in the pipeline: it opens the request's observation (and root
 * span), counts it active, and notes when its first chunk goes out.
 */
import { SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { StreamCapture } from '../cache/stream-capture.js';
import type { LedgerRow } from '../cost/ledger.js';
import type { CallObserver } from '../cost/record-stage.js';
import { isSluiceError } from '../errors.js';
import { type Delivered, whenDelivered } from '../pipeline/delivery.js';
import { tapChunks } from '../pipeline/reply.js';
import type { Reply, RequestContext, Stage } from '../pipeline/types.js';
import type { ObserveConfig } from './config.js';
import type { Logger } from './log.js';
import {
  contentText,
  createRedactor,
  finishReasons,
  type Redactor,
  requestContent,
  responseContent,
} from './content.js';
import { generationAttributes, type LangfuseConfig, langfuseExporter, langfuseFromEnv } from './langfuse.js';
import { ModelLabels } from './labels.js';
import { GatewayMetrics, type QueueDepthSource } from './metrics.js';
import { type ObserveHub, RequestObservation } from './observation.js';
import { RequestLogWriter } from './request-log.js';
import {
  createTracing,
  GEN_AI,
  otlpExporter,
  otlpTargetFrom,
  sampleRatioFrom,
  type TracingHandle,
  withoutAttributes,
} from './tracing.js';

export { sendLangfuseScore, type LangfuseConfig, type ScoreInput } from './langfuse.js';

export interface ObservabilityOptions {
  config: ObserveConfig;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Model names that always get their own label (the configured ones). */
  knownModels: Iterable<string>;
  queue?: QueueDepthSource;
  /** Delay between span batch exports (tests shorten it). */
  exportDelayMs?: number;
}

/** Cap on the SSE kept to rebuild a streamed answer for logs or Langfuse. */
const CAPTURE_MAX_BYTES = 1024 * 1024;

export class Observability implements ObserveHub {
  readonly metrics: GatewayMetrics | undefined;
  readonly tracer: Tracer | undefined;
  readonly langfuseEnabled: boolean;
  /** Set when Langfuse is configured: feedback scores go there (`sendLangfuseScore`). */
  readonly langfuse: LangfuseConfig | undefined;
  readonly #tracing: TracingHandle | undefined;
  readonly #redact: Redactor;
  readonly #logContent: boolean;
  readonly #langfuseContent: boolean;
  readonly #requestLog: RequestLogWriter | undefined;

  constructor(opts: ObservabilityOptions) {
    const { config, env } = opts;
    this.#redact = createRedactor(config.redact);
    this.metrics = config.metrics.enabled
      ? new GatewayMetrics(new ModelLabels(opts.knownModels, config.metrics.maxModels), opts.queue)
      : undefined;
    this.langfuse = langfuseFromEnv(env);
    this.langfuseEnabled = this.langfuse !== undefined;
    const exporters: SpanExporter[] = [];
    const collector = otlpTargetFrom(config.tracing, env);
    if (collector) {
      const exporter = otlpExporter(collector);
      exporters.push(this.langfuse ? withoutAttributes(exporter, 'langfuse.') : exporter);
    }
    if (this.langfuse) exporters.push(langfuseExporter(this.langfuse));
    if (exporters.length > 0) {
      const serviceName = config.tracing.serviceName ?? (env.OTEL_SERVICE_NAME?.trim() || 'sluice');
      this.#tracing = createTracing(
        exporters,
        serviceName,
        { scheduledDelayMillis: opts.exportDelayMs },
        sampleRatioFrom(config.tracing, env),
      );
      this.tracer = this.#tracing.tracer;
    }
    this.#requestLog = config.requestLog.enabled
      ? new RequestLogWriter(opts.log, config.requestLog.level)
      : undefined;
    this.#logContent = config.requestLog.enabled && config.requestLog.content;
    this.#langfuseContent = this.langfuseEnabled && config.langfuse.content;
  }

  /** Whether any part is on; when none is, the gateway leaves the stage out. */
  get enabled(): boolean {
    return this.metrics !== undefined || this.tracer !== undefined || this.#requestLog?.enabled === true;
  }

  get #wantsContent(): boolean {
    return this.#logContent || this.#langfuseContent;
  }

  /** First in the pipeline. */
  readonly stage: Stage = async (ctx, next) => {
    const obs = new RequestObservation(this, ctx);
    ctx.observation = obs;
    if (this.metrics) this.metrics.active++;
    let reply: Reply;
    try {
      reply = await next();
    } catch (error) {
      // Refused before the record stage (shutdown, auth): no ledger row will report it.
      whenDelivered(ctx, (delivered) => {
        if (!obs.finished) this.#finish(ctx, unrecordedRow(ctx, error, delivered));
      });
      throw error;
    }
    if (reply.kind === 'json') {
      if (this.#wantsContent || obs.root) obs.jsonReply = reply;
      return reply;
    }
    const capture = this.#wantsContent ? new StreamCapture(ctx.dialect, CAPTURE_MAX_BYTES) : undefined;
    obs.streamCapture = capture;
    return tapChunks(reply, (chunk) => {
      obs.firstChunkAt ??= performance.now();
      capture?.feed(chunk);
    });
  };

  /** Plugged into the record stage: every finished call's ledger row. */
  readonly observer: CallObserver = (ctx, row) => this.#finish(ctx, row);

  #finish(ctx: RequestContext, row: LedgerRow): void {
    const obs = ctx.observation;
    if (!obs || obs.finished) return;
    obs.finished = true;
    if (this.metrics) {
      this.metrics.active--;
      this.metrics.request(row, { ttftSeconds: obs.ttftSeconds(), upstreamSeconds: obs.upstreamSeconds() });
    }
    // Tracing alone reads finish reasons only from a body already parsed (never parses a cache hit for them).
    const response = this.#wantsContent || obs.root ? responseOf(obs, this.#wantsContent) : undefined;
    if (obs.root?.isRecording()) this.#endRoot(ctx, row, obs, response);
    else obs.root?.end();
    if (this.#requestLog?.enabled) {
      const content = this.#logContent
        ? {
            input: contentText(requestContent(ctx), this.#redact),
            output: contentText(responseContent(ctx.dialect, response), this.#redact),
          }
        : undefined;
      this.#requestLog.write(ctx, row, obs, content);
    }
  }

  #endRoot(ctx: RequestContext, row: LedgerRow, obs: RequestObservation, response: unknown): void {
    const root = obs.root!;
    root.setAttributes({
      [GEN_AI.responseModel]: row.model,
      [GEN_AI.inputTokens]: row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens,
      [GEN_AI.outputTokens]: row.outputTokens,
      [GEN_AI.cacheReadInputTokens]: row.cacheReadTokens,
      [GEN_AI.cacheCreationInputTokens]: row.cacheWriteTokens,
      'sluice.cache.layer': row.cache,
      'sluice.user': row.user,
      'user.id': row.user,
      'sluice.queue_wait_ms': ctx.queueWaitMs ?? 0,
      'http.response.status_code': row.status,
    });
    if (row.costUsd !== null) root.setAttribute('sluice.cost_usd', row.costUsd);
    if (row.costAvoidedUsd) root.setAttribute('sluice.cost_avoided_usd', row.costAvoidedUsd);
    if (row.upstream) root.setAttribute('sluice.upstream', row.upstream);
    if (row.team) root.setAttribute('sluice.team', row.team);
    const reasons = finishReasons(ctx.dialect, response);
    if (reasons) root.setAttribute(GEN_AI.finishReasons, reasons);
    if (row.errorCode) root.setAttribute('error.type', row.errorCode);
    if (row.status >= 500) root.setStatus({ code: SpanStatusCode.ERROR, message: row.errorCode });
    if (this.langfuseEnabled) {
      const session = ctx.headers['x-sluice-session'];
      const firstChunk = obs.firstChunkAt;
      root.setAttributes(
        generationAttributes({
          row,
          session: typeof session === 'string' && session ? session : undefined,
          completionStartMs:
            firstChunk === undefined ? undefined : ctx.startedAt + (firstChunk - obs.startedAt),
          input: this.#langfuseContent ? contentText(requestContent(ctx), this.#redact) : undefined,
          output: this.#langfuseContent
            ? contentText(responseContent(ctx.dialect, response), this.#redact)
            : undefined,
          modelParameters: modelParameters(ctx.body),
        }),
      );
    }
    obs.endRoot(row.errorCode);
  }

  /** The Prometheus text for `GET /metrics`. */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    if (!this.metrics) return { contentType: 'text/plain', body: '' };
    return { contentType: this.metrics.contentType, body: await this.metrics.text() };
  }

  /** Export the spans buffered so far (tests; shutdown does it too). */
  async flush(): Promise<void> {
    await this.#tracing?.flush();
  }

  async close(): Promise<void> {
    await this.#tracing?.close();
  }
}

/** The complete response the client got, when there is one to read (JSON reply or captured stream). */
function responseOf(obs: RequestObservation, parse: boolean): unknown {
  const json = obs.jsonReply;
  if (json) {
    if (json.parsed !== undefined || !parse) return json.parsed;
    try {
      return JSON.parse(Buffer.from(json.body).toString('utf8'));
    } catch {
      return undefined;
    }
  }
  const capture = obs.streamCapture;
  if (!capture) return undefined;
  const result = capture.finish();
  return result.ok ? result.response : undefined;
}

function modelParameters(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of ['max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stream']) {
    if (body[name] !== undefined) out[name] = body[name];
  }
  return out;
}

/** The row a request refused before the record stage would have had. */
function unrecordedRow(ctx: RequestContext, error: unknown, delivered: Delivered | undefined): LedgerRow {
  const status = delivered?.status ?? (isSluiceError(error) ? error.status : 500);
  return {
    ts: ctx.startedAt,
    requestId: ctx.id,
    user: ctx.caller.user,
    route: ctx.route,
    requestedModel: ctx.requestedModel,
    model: ctx.model,
    inputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    usageEstimated: false,
    costUsd: 0,
    costAvoidedUsd: 0,
    promptCacheSavedUsd: 0,
    cache: ctx.cache,
    latencyMs: Math.max(0, Date.now() - ctx.startedAt),
    status,
    outcome: status === 499 ? 'aborted' : 'error',
    errorCode: isSluiceError(error) ? error.code : 'internal',
    stream: ctx.stream,
  };
}
