/**
 * Langfuse, through its OpenTelemetry endpoint: every request's spans go to
 * `{base}/api/public/otel/v1/traces` (Basic auth public:secret, `x-langfuse-ingestion-version: 4`),
 * the root span marked as a generation with Langfuse's `langfuse.*` attributes. Feedback scores
 * go to `POST {base}/api/public/scores` on the request's trace. The batch
 * `/api/public/ingestion` endpoint is deprecated and is not used.
 */
import type { Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { LedgerRow } from '../cost/ledger.js';

export interface LangfuseConfig {
  /** Without a trailing slash, e.g. `https://cloud.langfuse.com`. */
  baseUrl: string;
  publicKey: string;
  secretKey: string;
}

/** From `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` and `LANGFUSE_BASE_URL` (or `LANGFUSE_HOST`); all needed. */
export function langfuseFromEnv(env: NodeJS.ProcessEnv): LangfuseConfig | undefined {
  const publicKey = env.LANGFUSE_PUBLIC_KEY?.trim();
  const secretKey = env.LANGFUSE_SECRET_KEY?.trim();
  const base = (env.LANGFUSE_BASE_URL ?? env.LANGFUSE_HOST)?.trim();
  if (!publicKey || !secretKey || !base) return undefined;
  return { baseUrl: base.replace(/\/+$/, ''), publicKey, secretKey };
}

function authHeaders(config: LangfuseConfig): Record<string, string> {
  const basic = Buffer.from(`${config.publicKey}:${config.secretKey}`).toString('base64');
  return { authorization: `Basic ${basic}` };
}

/** OTLP/HTTP (JSON) to Langfuse's traces endpoint. */
export function langfuseExporter(config: LangfuseConfig): SpanExporter {
  return new OTLPTraceExporter({
    url: `${config.baseUrl}/api/public/otel/v1/traces`,
    headers: { ...authHeaders(config), 'x-langfuse-ingestion-version': '4' },
    timeoutMillis: 10_000,
  });
}

export interface GenerationDetails {
  row: LedgerRow;
  /** Epoch ms the first chunk went out (streams). */
  completionStartMs?: number;
  input?: string;
  output?: string;
  modelParameters?: Record<string, unknown>;
  session?: string;
}

/** Langfuse's attributes for the root span, which becomes the trace's generation. */
export function generationAttributes(details: GenerationDetails): Attributes {
  const { row } = details;
  const attributes: Attributes = {
    'langfuse.observation.type': row.route === 'embeddings' ? 'embedding' : 'generation',
    'langfuse.observation.model.name': row.model,
    'langfuse.observation.usage_details': JSON.stringify({
      input: row.inputTokens,
      input_cache_read: row.cacheReadTokens,
      input_cache_creation: row.cacheWriteTokens,
      output: row.outputTokens,
      total: row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens + row.outputTokens,
    }),
    'langfuse.user.id': row.user,
    'langfuse.trace.metadata.request_id': row.requestId,
    'langfuse.trace.metadata.cache': row.cache,
    'langfuse.trace.metadata.route': row.route,
  };
  if (row.costUsd !== null)
    attributes['langfuse.observation.cost_details'] = JSON.stringify({ total: row.costUsd });
  if (row.upstream) attributes['langfuse.trace.metadata.upstream'] = row.upstream;
  if (details.session) attributes['langfuse.session.id'] = details.session;
  if (details.completionStartMs !== undefined)
    attributes['langfuse.observation.completion_start_time'] = new Date(
      details.completionStartMs,
    ).toISOString();
  if (details.input !== undefined) attributes['langfuse.observation.input'] = details.input;
  if (details.output !== undefined) attributes['langfuse.observation.output'] = details.output;
  if (details.modelParameters && Object.keys(details.modelParameters).length > 0)
    attributes['langfuse.observation.model.parameters'] = JSON.stringify(details.modelParameters);
  if (row.outcome !== 'ok') {
    attributes['langfuse.observation.level'] = row.outcome === 'aborted' ? 'WARNING' : 'ERROR';
    attributes['langfuse.observation.status_message'] = row.errorCode ?? `status ${row.status}`;
  }
  return attributes;
}

/** A feedback score, as `POST /v1/feedback` receives it, on the trace of the request it is about. */
export interface ScoreInput {
  /** The request's trace id (32 hex digits): Langfuse names a trace by its OpenTelemetry trace id. */
  traceId: string;
  name: string;
  value: number;
  comment?: string;
  /** Makes a retried send idempotent: Langfuse upserts a score by id. */
  id?: string;
}

export class LangfuseScoreError extends Error {
  override name = 'LangfuseScoreError';
}

/**
 * Send one score: `POST {base}/api/public/scores` with
 * `{ traceId, name, value, dataType: 'NUMERIC', comment?, id? }`. Resolves with Langfuse's
 * answer (`{ id }`); rejects with LangfuseScoreError on a non-2xx answer or a network error.
 */
export async function sendLangfuseScore(
  config: LangfuseConfig,
  score: ScoreInput,
  fetchImpl: typeof fetch = fetch,
): Promise<{ id?: string }> {
  if (!/^[0-9a-f]{32}$/.test(score.traceId))
    throw new LangfuseScoreError(`not an OpenTelemetry trace id: '${score.traceId.slice(0, 40)}'`);
  const body = {
    traceId: score.traceId,
    name: score.name,
    value: score.value,
    dataType: 'NUMERIC',
    ...(score.comment !== undefined ? { comment: score.comment } : {}),
    ...(score.id !== undefined ? { id: score.id } : {}),
  };
  let res: Response;
  try {
    res = await fetchImpl(`${config.baseUrl}/api/public/scores`, {
      method: 'POST',
      headers: { ...authHeaders(config), 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw new LangfuseScoreError(`Langfuse unreachable: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new LangfuseScoreError(`Langfuse answered ${res.status}: ${text.slice(0, 200)}`);
  try {
    return JSON.parse(text) as { id?: string };
  } catch {
    return {};
  }
}
