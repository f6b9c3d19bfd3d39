/**
 * The record stage: one ledger row per call once its reply is over — successes, errors,
 * refusals, cache hits (with the cost they avoided) and abandoned streams alike — and the
 * request's whole cost (its own plus its side calls', see side-cost.ts): the
 * `x-sluice-cost-usd` header on JSON replies; on streams, whose headers go before the cost is
 * known, a final SSE comment `: x-sluice-cost-usd=<usd>` (cost-comment.ts).
 */
import { isSluiceError } from '../errors.js';
import { type Delivered, whenDelivered } from '../pipeline/delivery.js';
import type { Reply, RequestContext, Stage, Usage } from '../pipeline/types.js';
import { promptTokens } from '../tokens/count.js';
import { type Cost, costOf } from './cost.js';
import type { Ledger, LedgerRow } from './ledger.js';
import type { PriceBook } from './prices.js';
import { type DoneOutcome, onReplyDone } from './reply-done.js';
import { addSideCost } from './side-cost.js';
import { appendCostComment } from './cost-comment.js';
import { isFree, liveUsage, modelUsed, resolveBilledUsage } from './usage-resolve.js';

/** Observes each finished call (e.g. the prompt-cache monitor). */
export type CallObserver = (ctx: RequestContext, row: LedgerRow) => void;

export interface RecordStageDeps {
  ledger: Ledger;
  prices: PriceBook;
  estimateFactor?: number;
  /** Settle abandoned streams after this long (cost.budgets.abortGraceMs). */
  abortGraceMs?: number;
  observers?: readonly CallObserver[];
  now?: () => number;
}

export function recordStage(deps: RecordStageDeps): Stage {
  const now = deps.now ?? Date.now;
  const graceMs = deps.abortGraceMs ?? 2000;
  return async (ctx, next) => {
    let reply: Reply;
    try {
      reply = await next();
    } catch (error) {
      const status = isSluiceError(error) ? error.status : 500;
      const code = isSluiceError(error) ? error.code : 'internal';
      write(deps, ctx, undefined, { completed: false }, now(), status, code);
      throw error;
    }
    const done = onReplyDone(
      ctx,
      reply,
      (outcome) => {
        const row = write(deps, ctx, reply, outcome, now(), outcome.completed ? reply.status : 499);
        // Set before the edge writes the head; the row itself waits for what the client got.
        if (reply.kind === 'json') ctx.responseHeaders['x-sluice-cost-usd'] = wholeCost(row);
      },
      graceMs,
    );
    if (done.kind !== 'stream' || done.status >= 400) return done;
    // The stream's cost so far when its final event passes (usage comes before it).
    return appendCostComment(done, () =>
      wholeCost(priceRow(deps, ctx, reply, { completed: true }, now(), reply.status, undefined, true)),
    );
  };
}

/** The request's own cost plus its side calls' (`unpriced` when any part has no price). */
export function wholeCost(row: LedgerRow): string {
  if (row.costUsd === null || row.sideCostUnpriced) return 'unpriced';
  return String(round9(row.costUsd + (row.sideCostUsd ?? 0)));
}

function write(
  deps: RecordStageDeps,
  ctx: RequestContext,
  reply: Reply | undefined,
  outcome: DoneOutcome,
  endedAt: number,
  status: number,
  errorCode?: string,
): LedgerRow {
  const row = priceRow(deps, ctx, reply, outcome, endedAt, status, errorCode);
  // Known as soon as the side call is over: before the parent's own reply is.
  if (ctx.parent) addSideCost(ctx.parent, row.costUsd);
  whenDelivered(ctx, (delivered) => {
    const final = delivered?.failure ? asDelivered(row, delivered) : row;
    deps.ledger.record(final);
    if (deps.observers) for (const observe of deps.observers) observe(ctx, final);
  });
  return row;
}

/** The row a call amounts to; `live`: a stream still running, priced on the usage it reported so far. */
function priceRow(
  deps: RecordStageDeps,
  ctx: RequestContext,
  reply: Reply | undefined,
  outcome: DoneOutcome,
  endedAt: number,
  status: number,
  errorCode?: string,
  live = false,
): LedgerRow {
  const model = modelUsed(ctx);
  const pricing = deps.prices.lookup(model);
  const usageNow = live ? liveUsage(ctx) : ctx.usage;
  const { billed, avoided } = resolveBilledUsage(ctx, reply, outcome, deps.estimateFactor, usageNow);
  let cost: Cost = {
    unpriced: false,
    inputUsd: 0,
    cacheReadUsd: 0,
    cacheWriteUsd: 0,
    outputUsd: 0,
    requestUsd: 0,
    totalUsd: 0,
    promptCacheSavedUsd: 0,
  };
  if (billed) cost = costOf(billed, pricing);
  let costAvoidedUsd = 0;
  if (isFree(ctx)) {
    const stored = avoided ?? estimateStored(ctx, deps.estimateFactor);
    const would = costOf(stored, pricing);
    costAvoidedUsd = would.unpriced ? 0 : round9(would.totalUsd);
  }
  const usage: Usage = billed ?? {
    inputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
  };
  const keyId = ctx.caller.keyId ?? ctx.virtualKey?.id;
  const purpose = ctx.purpose;
  // Kept for feedback scores, which attach to the trace: only a traced request has one.
  const observation = ctx.observation;
  const traceId = observation?.root ? observation.traceId : undefined;
  const side = ctx.sideCost;
  return {
    ts: ctx.startedAt,
    requestId: ctx.id,
    user: ctx.caller.user,
    ...(ctx.caller.team ? { team: ctx.caller.team } : {}),
    ...(keyId ? { keyId } : {}),
    ...(ctx.caller.tier ? { tier: ctx.caller.tier } : {}),
    route: ctx.route,
    requestedModel: ctx.requestedModel,
    model,
    ...(ctx.upstream ? { upstream: ctx.upstream } : {}),
    inputTokens: usage.inputTokens,
    cacheReadTokens: usage.cacheReadTokens,
    cacheWriteTokens: usage.cacheWriteTokens,
    outputTokens: usage.outputTokens,
    usageEstimated: usage.estimated === true,
    // A call nothing was billed for costs exactly $0 even on an unpriced model.
    costUsd: !billed ? 0 : cost.unpriced ? null : round9(cost.totalUsd),
    costAvoidedUsd,
    promptCacheSavedUsd: billed && !cost.unpriced ? round9(cost.promptCacheSavedUsd) : 0,
    cache: ctx.cache,
    latencyMs: Math.max(0, endedAt - ctx.startedAt),
    status,
    outcome: errorCode || status >= 400 ? (status === 499 ? 'aborted' : 'error') : 'ok',
    ...(errorCode ? { errorCode } : {}),
    stream: ctx.stream,
    ...(ctx.flightFollower ? { coalesced: true } : {}),
    ...(typeof purpose === 'string' ? { purpose } : {}),
    ...(traceId ? { traceId } : {}),
    ...(side ? { sideCostUsd: side.usd } : {}),
    ...(side?.unpriced ? { sideCostUnpriced: true } : {}),
  };
}

/**
 * The row of a reply the client did not get as the pipeline made it (the edge could not write
 * it, or the client had gone): the status is the one actually sent. What was spent stays
 * billed: the upstream call happened.
 */
function asDelivered(row: LedgerRow, delivered: Delivered): LedgerRow {
  if (row.status === delivered.status || (row.outcome !== 'ok' && delivered.failure === 'client_closed'))
    return row;
  return {
    ...row,
    status: delivered.status,
    outcome: delivered.status === 499 ? 'aborted' : 'error',
    errorCode: delivered.failure,
  };
}

/** A cache hit whose stored usage is unknown: what the answer would have cost, counted locally. */
function estimateStored(ctx: RequestContext, estimateFactor?: number): Usage {
  return {
    inputTokens: promptTokens(ctx, modelUsed(ctx), estimateFactor).tokens,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    estimated: true,
  };
}

const round9 = (usd: number): number => Math.round(usd * 1e9) / 1e9;
