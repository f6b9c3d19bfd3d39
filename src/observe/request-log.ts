/**
 * The per-request log line: who, what, which cache, how many tokens, what it cost, where the
 * time went, how it ended, with the trace and span ids to jump to the trace. Credentials never
 * appear: the caller is a user name and a key *id*, headers are not logged.
 */
import type { LedgerRow } from '../cost/ledger.js';
import { QUEUE_WAIT_NOTE } from '../flow/queue-stage.js';
import type { RequestContext } from '../pipeline/types.js';
import type { RequestObservation } from './observation.js';

const round3 = (n: number) => Math.round(n * 1000) / 1000;

export interface RequestLogContent {
  input?: string;
  output?: string;
}

export function requestLogLine(
  ctx: RequestContext,
  row: LedgerRow,
  obs: RequestObservation,
  content?: RequestLogContent,
): Record<string, unknown> {
  const upstreamSeconds = obs.upstreamSeconds();
  const ttftSeconds = obs.ttftSeconds();
  const queueWait = ctx.notes.get(QUEUE_WAIT_NOTE);
  const cacheReason = ctx.responseHeaders['x-sluice-cache-reason'];
  const line: Record<string, unknown> = {
    reqId: row.requestId,
    traceId: obs.traceId,
    spanId: obs.spanId,
    user: row.user,
    team: row.team,
    keyId: row.keyId,
    route: row.route,
    model: row.requestedModel,
    modelUsed: row.model,
    upstream: row.upstream,
    cache: row.cache,
    cacheReason,
    stream: row.stream,
    tokens: {
      input: row.inputTokens,
      cacheRead: row.cacheReadTokens,
      cacheWrite: row.cacheWriteTokens,
      output: row.outputTokens,
    },
    costUsd: row.costUsd,
    costAvoidedUsd: row.costAvoidedUsd || undefined,
    queueWaitMs: typeof queueWait === 'number' ? queueWait : 0,
    upstreamMs: upstreamSeconds === undefined ? undefined : round3(upstreamSeconds * 1000),
    ttftMs: ttftSeconds === undefined ? undefined : round3(ttftSeconds * 1000),
    attempts: obs.attempts || undefined,
    totalMs: row.latencyMs,
    status: row.status,
    outcome: row.outcome,
    errorType: row.errorCode,
  };
  if (content?.input !== undefined) line.input = content.input;
  if (content?.output !== undefined) line.output = content.output;
  return line;
}
