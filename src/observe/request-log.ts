/**
 * The per-request log line: who, what, which cache, how many tokens, what it cost, where the
 * time went, how it ended, with the trace and span ids to jump to the trace. Credentials never
 * appear: the caller is a user name and a key *id*, headers are not logged.
 *
 * It is written on every request, so it is built as one JSON string (fixed keys, values escaped
 * where a caller or the config could put anything in them) and handed to the logger's own
 * destination, in the same shape pino gives its lines (level, time, the logger's bindings, the
 * fields, `msg`). Going through `logger.info(object)` cost several times more: pino walks the
 * object, applies the redaction paths and the hooks to fields that never hold a credential.
 */
import { pino } from 'pino';
import type { LedgerRow } from '../cost/ledger.js';
import type { RequestContext } from '../pipeline/types.js';
import type { Logger } from './log.js';
import type { RequestObservation } from './observation.js';

const round3 = (n: number) => Math.round(n * 1000) / 1000;

export interface RequestLogContent {
  input?: string;
  output?: string;
}

export type RequestLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** What the writer needs of a pino logger: its destination and how it starts and ends a line. */
interface PinoInternals {
  [pino.symbols.streamSym]: { write(line: string): unknown };
  [pino.symbols.chindingsSym]: string;
  [pino.symbols.timeSym]: () => string;
}

export class RequestLogWriter {
  readonly #log: Logger;
  readonly #level: RequestLogLevel;
  readonly #head: string;

  constructor(log: Logger, level: RequestLogLevel) {
    this.#log = log;
    this.#level = level;
    this.#head = `{"level":${log.levels.values[level]}`;
  }

  /** Whether the logger lets the line's level through now (the level can change at run time). */
  get enabled(): boolean {
    return this.#log.isLevelEnabled(this.#level);
  }

  write(ctx: RequestContext, row: LedgerRow, obs: RequestObservation, content?: RequestLogContent): void {
    const internals = this.#log as unknown as PinoInternals;
    const line =
      this.#head +
      internals[pino.symbols.timeSym]() +
      internals[pino.symbols.chindingsSym] +
      requestLogFields(ctx, row, obs, content) +
      ',"msg":"request"}\n';
    internals[pino.symbols.streamSym].write(line);
  }
}

/**
 * The line's own fields as a JSON fragment that starts with a comma (`,"reqId":…`), ready to go
 * between the logger's bindings and the message. Undefined values are left out, as
 * JSON.stringify would.
 */
export function requestLogFields(
  ctx: RequestContext,
  row: LedgerRow,
  obs: RequestObservation,
  content?: RequestLogContent,
): string {
  const upstreamSeconds = obs.upstreamSeconds();
  const ttftSeconds = obs.ttftSeconds();
  const queueWait = ctx.queueWaitMs;
  const cacheReason = ctx.responseHeaders['x-sluice-cache-reason'];
  let out =
    str('reqId', row.requestId) +
    str('traceId', obs.traceId) +
    str('spanId', obs.spanId) +
    str('user', row.user) +
    str('team', row.team) +
    str('keyId', row.keyId) +
    str('route', row.route) +
    str('model', row.requestedModel) +
    str('modelUsed', row.model) +
    str('upstream', row.upstream) +
    str('cache', row.cache) +
    str('cacheReason', typeof cacheReason === 'string' ? cacheReason : undefined) +
    `,"stream":${row.stream === true}` +
    `,"tokens":{"input":${num(row.inputTokens)},"cacheRead":${num(row.cacheReadTokens)},"cacheWrite":${num(row.cacheWriteTokens)},"output":${num(row.outputTokens)}}` +
    `,"costUsd":${row.costUsd === null ? 'null' : num(row.costUsd)}` +
    (row.costAvoidedUsd ? `,"costAvoidedUsd":${num(row.costAvoidedUsd)}` : '') +
    `,"queueWaitMs":${queueWait === undefined ? 0 : num(queueWait)}` +
    (upstreamSeconds === undefined ? '' : `,"upstreamMs":${num(round3(upstreamSeconds * 1000))}`) +
    (ttftSeconds === undefined ? '' : `,"ttftMs":${num(round3(ttftSeconds * 1000))}`) +
    (obs.attempts ? `,"attempts":${obs.attempts}` : '') +
    `,"totalMs":${num(row.latencyMs)}` +
    `,"status":${num(row.status)}` +
    str('outcome', row.outcome) +
    str('errorType', row.errorCode);
  if (content?.input !== undefined) out += str('input', content.input);
  if (content?.output !== undefined) out += str('output', content.output);
  return out;
}

/** `,"key":"value"` (escaped), or nothing for a missing value. */
function str(key: string, value: string | undefined): string {
  return value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`;
}

/** A number as JSON writes it (NaN and infinities as null). */
function num(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}
