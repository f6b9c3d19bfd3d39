import { z } from 'zod';

/**
 * Observability configuration, mounted by the root config under the key `observe`. Tracing and
 * Langfuse are also switched on by their standard environment variables (see docs/observability.md);
 * what the file sets wins over the environment.
 */

const metricsSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Serve Prometheus metrics at `GET /metrics`.'),
  maxModels: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(50)
    .describe(
      'Distinct `model` label values beyond the configured models; later ones are counted as `other`, so callers cannot grow the series without bound.',
    ),
});

const tracingSchema = z.strictObject({
  endpoint: z
    .url()
    .optional()
    .describe(
      'OTLP/HTTP traces URL, used as is (e.g. `http://collector:4318/v1/traces`). Unset: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; none of them: no tracing.',
    ),
  protocol: z
    .enum(['http/json', 'http/protobuf'])
    .optional()
    .describe(
      'OTLP encoding. Unset: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`.',
    ),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe('Extra headers sent to the collector (added to `OTEL_EXPORTER_OTLP_HEADERS`).'),
  sampleRatio: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe(
      "Share of new traces recorded (a caller's traceparent decides for its own). Unset: `OTEL_TRACES_SAMPLER_ARG` with `OTEL_TRACES_SAMPLER=traceidratio` or `parentbased_traceidratio`, else 1.",
    ),
  serviceName: z
    .string()
    .min(1)
    .optional()
    .describe('`service.name` of the spans. Unset: `OTEL_SERVICE_NAME`, else `sluice`.'),
});

const requestLogSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Write one JSON log line per request.'),
  level: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'])
    .default('info')
    .describe('Level of the per-request line (it shows only when `logLevel` lets that level through).'),
  content: z
    .boolean()
    .default(false)
    .describe(
      "Add the request's messages and the answer's text to the line, after `redact`. Off: no message content in any log.",
    ),
});

const langfuseSchema = z.strictObject({
  content: z
    .boolean()
    .default(true)
    .describe(
      'Send the messages and the answer to Langfuse as the generation input and output (after `redact`). Langfuse itself is on when `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` and `LANGFUSE_BASE_URL` (or `LANGFUSE_HOST`) are set.',
    ),
});

export const observeConfigSchema = z.strictObject({
  metrics: metricsSchema.default({ enabled: true, maxModels: 50 }).describe('Prometheus metrics.'),
  tracing: tracingSchema.default({ headers: {} }).describe('OpenTelemetry traces over OTLP/HTTP.'),
  requestLog: requestLogSchema
    .default({ enabled: true, level: 'info', content: false })
    .describe('The per-request log line.'),
  langfuse: langfuseSchema
    .default({ content: true })
    .describe('Langfuse export (keys from the environment).'),
  redact: z
    .array(z.string().min(1).refine(isRegExp, { message: 'not a valid regular expression' }))
    .default([])
    .describe(
      'Regular expressions (JavaScript syntax, case-insensitive) whose matches are replaced by `[redacted]` in any message content that leaves the gateway for logs, traces or Langfuse.',
    ),
});
export type ObserveConfig = z.infer<typeof observeConfigSchema>;

function isRegExp(pattern: string): boolean {
  try {
    new RegExp(pattern, 'gi');
    return true;
  } catch {
    return false;
  }
}
