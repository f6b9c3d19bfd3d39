/**
 * OpenTelemetry tracing: a tracer provider of the gateway's own (never registered globally, so
 * several gateways in one process, and an application embedding Sluice, keep theirs) with a
 * batch processor per exporter: the OTLP collector named by config or the standard `OTEL_*`
 * variables, and Langfuse (langfuse.ts). Nothing configured: no provider at all, and the
 * request path never builds a span or an attribute.
 */
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ObserveConfig } from './config.js';

/** GenAI semantic-convention names (v1.41), copied: the package marks them incubating. */
export const GEN_AI = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  requestTemperature: 'gen_ai.request.temperature',
  requestTopP: 'gen_ai.request.top_p',
  requestStream: 'gen_ai.request.stream',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadInputTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheCreationInputTokens: 'gen_ai.usage.cache_creation.input_tokens',
  finishReasons: 'gen_ai.response.finish_reasons',
  responseId: 'gen_ai.response.id',
  conversationId: 'gen_ai.conversation.id',
} as const;

export type OtlpProtocol = 'http/json' | 'http/protobuf';

export interface OtlpTarget {
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
}

/** The collector to send traces to, from config first, then the standard variables; none: undefined. */
export function otlpTargetFrom(
  config: ObserveConfig['tracing'],
  env: NodeJS.ProcessEnv,
): OtlpTarget | undefined {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const url =
    config.endpoint ??
    (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || undefined) ??
    (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  const protocol =
    config.protocol ??
    protocolOf(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) ??
    protocolOf(env.OTEL_EXPORTER_OTLP_PROTOCOL) ??
    'http/protobuf';
  const headers = {
    ...parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS),
    ...parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS),
    ...config.headers,
  };
  return { url, protocol, headers };
}

function protocolOf(value: string | undefined): OtlpProtocol | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (v === 'http/json' || v === 'http/protobuf') return v;
  // gRPC needs another exporter package: say so rather than send protobuf to a gRPC port.
  throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL '${v}' is not supported: use http/json or http/protobuf`);
}

/** `key=value,key2=value2`, values percent-encoded (the OTLP exporter specification's format). */
export function parseOtlpHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim().toLowerCase();
    try {
      out[key] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      out[key] = pair.slice(at + 1).trim();
    }
  }
  return out;
}

export function otlpExporter(target: OtlpTarget): SpanExporter {
  const options = { url: target.url, headers: target.headers, timeoutMillis: 10_000 };
  return target.protocol === 'http/json' ? new OtlpJsonExporter(options) : new OtlpProtoExporter(options);
}

/**
 * An exporter that never sees attributes under `prefix` (Langfuse's, which may hold message
 * content): the general collector gets the trace without the conversation in it.
 */
export function withoutAttributes(exporter: SpanExporter, prefix: string): SpanExporter {
  const strip = (span: ReadableSpan): ReadableSpan => {
    let kept: ReadableSpan['attributes'] | undefined;
    for (const key in span.attributes) {
      if (!key.startsWith(prefix)) continue;
      kept ??= { ...span.attributes };
      delete kept[key];
    }
    // The span's other fields and methods come through the prototype chain.
    return kept ? (Object.create(span, { attributes: { value: kept } }) as ReadableSpan) : span;
  };
  return {
    export: (spans, done) => exporter.export(spans.map(strip), done),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

export interface TracingHandle {
  tracer: Tracer;
  /** Export what is buffered (tests, shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The share of new traces to record: config, else the standard sampler variables, else all. */
export function sampleRatioFrom(config: ObserveConfig['tracing'], env: NodeJS.ProcessEnv): number {
  if (config.sampleRatio !== undefined) return config.sampleRatio;
  const sampler = env.OTEL_TRACES_SAMPLER?.trim();
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return 0;
  if (sampler === 'traceidratio' || sampler === 'parentbased_traceidratio') {
    const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
    if (Number.isFinite(ratio) && ratio >= 0 && ratio <= 1) return ratio;
  }
  return 1;
}

/** All or none need no look at the trace id (the ratio sampler reads its characters on every request). */
function rootSampler(ratio: number) {
  if (ratio >= 1) return new AlwaysOnSampler();
  if (ratio <= 0) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(ratio);
}

export function createTracing(
  exporters: readonly SpanExporter[],
  serviceName: string,
  batch: { scheduledDelayMillis?: number } = {},
  sampleRatio = 1,
): TracingHandle {
  const spanProcessors: SpanProcessor[] = exporters.map(
    (exporter) =>
      new BatchSpanProcessor(exporter, {
        maxQueueSize: 8192,
        maxExportBatchSize: 512,
        scheduledDelayMillis: batch.scheduledDelayMillis ?? 1000,
      }),
  );
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    // A caller's sampled flag is followed; new traces are kept at the configured ratio.
    sampler: new ParentBasedSampler({ root: rootSampler(sampleRatio) }),
    spanProcessors,
  });
  return {
    tracer: provider.getTracer('sluice'),
    flush: () => provider.forceFlush(),
    close: () => provider.shutdown(),
  };
}
