/**
 * Prometheus metrics (prom-client), one registry per gateway. Fed from the finished-request
 * record (requests, latency, tokens, cost, TTFT, overhead) and from the stage hooks
 * (cache lookups, queue wait, upstream attempts). Every label is bounded (labels.ts).
 */
import { Gauge, Registry } from 'prom-client';
import type { LedgerRow } from '../cost/ledger.js';
import { attemptOutcome, type ModelLabels, refusalReason, statusClass } from './labels.js';
import { BatchedCounter, FastHistogram } from './series.js';

/** The seed's buckets (0.5 … 60 s) with finer ones below 0.5 s, where cache hits land. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
const OVERHEAD_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/** Timings of one request the ledger row does not hold. */
export interface RequestTimings {
  /** Seconds from arrival to the first stream chunk (streams only). */
  ttftSeconds?: number;
  /** Seconds spent on upstream calls (first attempt's start to the answer's end), when any. */
  upstreamSeconds?: number;
}

export interface QueueDepthSource {
  /** Waiting requests per limiter (upstream, or upstream/model). */
  queued(): Iterable<[string, number]>;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #models: ModelLabels;
  readonly #requests: BatchedCounter<'model' | 'route' | 'status'>;
  readonly #errors: BatchedCounter<'model' | 'route' | 'error_type'>;
  readonly #latency: FastHistogram<'model' | 'cache'>;
  readonly #tokens: BatchedCounter<'model' | 'type'>;
  readonly #cost: BatchedCounter<'model'>;
  readonly #avoided: BatchedCounter<'layer'>;
  readonly #ttft: FastHistogram<'model' | 'cache'>;
  readonly #overhead: FastHistogram<'route'>;
  readonly #lookups: BatchedCounter<'layer' | 'outcome'>;
  readonly #queueWait: FastHistogram<'upstream'>;
  readonly #attempts: BatchedCounter<'upstream' | 'outcome'>;
  readonly #retries: BatchedCounter<'upstream'>;
  readonly #refusals: BatchedCounter<'reason'>;
  /** Requests in the gateway now (read by the `llm_active_requests` gauge when scraped). */
  active = 0;

  constructor(models: ModelLabels, queue?: QueueDepthSource) {
    this.#models = models;
    const registers = [this.registry];
    this.#requests = new BatchedCounter({
      name: 'llm_requests_total',
      help: 'Requests finished, by model asked, route and status class.',
      labelNames: ['model', 'route', 'status'],
      registers,
    });
    this.#errors = new BatchedCounter({
      name: 'llm_errors_total',
      help: 'Requests that ended in an error, by error type (a fixed list).',
      labelNames: ['model', 'route', 'error_type'],
      registers,
    });
    this.#latency = new FastHistogram({
      name: 'llm_latency_seconds',
      help: 'Whole-request latency as the gateway saw it, by model and the cache layer that answered.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#tokens = new BatchedCounter({
      name: 'llm_tokens_total',
      help: 'Tokens billed, by model and type (input, cache_read, cache_write, output).',
      labelNames: ['model', 'type'],
      registers,
    });
    this.#cost = new BatchedCounter({
      name: 'llm_cost_usd_total',
      help: 'USD spent, by model that answered.',
      labelNames: ['model'],
      registers,
    });
    this.#avoided = new BatchedCounter({
      name: 'llm_cost_avoided_usd_total',
      help: 'USD not spent thanks to a cache layer (exact, semantic, flight, provider prompt cache).',
      labelNames: ['layer'],
      registers,
    });
    this.#ttft = new FastHistogram({
      name: 'llm_time_to_first_token_seconds',
      help: 'Streams: arrival to the first chunk sent to the client.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#overhead = new FastHistogram({
      name: 'llm_gateway_overhead_seconds',
      help: "The gateway's own time: total minus time spent on upstream calls.",
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.#lookups = new BatchedCounter({
      name: 'llm_cache_lookups_total',
      help: 'Cache lookups by layer (exact, semantic) and outcome (hit, miss).',
      labelNames: ['layer', 'outcome'],
      registers,
    });
    this.#queueWait = new FastHistogram({
      name: 'llm_queue_wait_seconds',
      help: 'Time waited for an upstream slot.',
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#attempts = new BatchedCounter({
      name: 'llm_upstream_attempts_total',
      help: 'Upstream attempts by outcome (ok, 429, 4xx, 5xx, timeout, unreachable, aborted).',
      labelNames: ['upstream', 'outcome'],
      registers,
    });
    this.#retries = new BatchedCounter({
      name: 'llm_upstream_retries_total',
      help: 'Upstream attempts after the first one of a request (retries and fallbacks).',
      labelNames: ['upstream'],
      registers,
    });
    this.#refusals = new BatchedCounter({
      name: 'llm_refusals_total',
      help: 'Requests the gateway refused itself, by reason (rate limit, queue, budget, deadline, shutdown).',
      labelNames: ['reason'],
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'llm_active_requests',
      help: 'Requests in the gateway now.',
      registers,
      collect() {
        this.set(metrics.active);
      },
    });
    if (queue) {
      new Gauge({
        name: 'llm_queue_depth',
        help: 'Requests waiting for an upstream slot, by limiter.',
        labelNames: ['upstream'],
        registers,
        collect() {
          for (const [name, queued] of queue.queued()) this.set({ upstream: name }, queued);
        },
      });
    }
  }

  /** One finished request (its ledger row) or one refused before it had a row (`row` partial). */
  request(row: RequestSummary, timings: RequestTimings): void {
    const asked = this.#models.of(row.requestedModel);
    const used = this.#models.of(row.model);
    const { route, cache } = row;
    const status = statusClass(row.status);
    this.#requests.inc(`${asked}\u0001${route}\u0001${status}`, () => ({ model: asked, route, status }));
    const errorType = row.errorCode;
    if (errorType !== undefined) {
      this.#errors.inc(`${asked}\u0001${route}\u0001${errorType}`, () => ({
        model: asked,
        route,
        error_type: errorType,
      }));
      const reason = refusalReason(errorType);
      if (reason) this.#refusals.inc(reason, () => ({ reason }));
    }
    const totalSeconds = row.latencyMs / 1000;
    const modelCache = `${asked}\u0001${cache}`;
    const modelCacheLabels = () => ({ model: asked, cache });
    this.#latency.observe(modelCache, modelCacheLabels, totalSeconds);
    if (timings.ttftSeconds !== undefined)
      this.#ttft.observe(modelCache, modelCacheLabels, timings.ttftSeconds);
    this.#overhead.observe(
      route,
      () => ({ route }),
      Math.max(0, totalSeconds - (timings.upstreamSeconds ?? 0)),
    );
    if (row.inputTokens) this.#tokenCount(used, 'input', row.inputTokens);
    if (row.cacheReadTokens) this.#tokenCount(used, 'cache_read', row.cacheReadTokens);
    if (row.cacheWriteTokens) this.#tokenCount(used, 'cache_write', row.cacheWriteTokens);
    if (row.outputTokens) this.#tokenCount(used, 'output', row.outputTokens);
    if (row.costUsd) this.#cost.inc(used, () => ({ model: used }), row.costUsd);
    if (row.costAvoidedUsd) {
      const layer = row.coalesced ? 'flight' : row.cache === 'semantic' ? 'semantic' : 'exact';
      this.#avoided.inc(layer, () => ({ layer }), row.costAvoidedUsd);
    }
    if (row.promptCacheSavedUsd > 0)
      this.#avoided.inc('prompt', () => ({ layer: 'prompt' }), row.promptCacheSavedUsd);
  }

  #tokenCount(model: string, type: string, tokens: number): void {
    this.#tokens.inc(`${model}\u0001${type}`, () => ({ model, type }), tokens);
  }

  cacheLookup(layer: 'exact' | 'semantic', hit: boolean): void {
    const outcome = hit ? 'hit' : 'miss';
    this.#lookups.inc(`${layer}\u0001${outcome}`, () => ({ layer, outcome }));
  }

  queueWait(upstream: string, seconds: number): void {
    this.#queueWait.observe(upstream, () => ({ upstream }), seconds);
  }

  upstreamAttempt(upstream: string, result: number | string, retry: boolean): void {
    const outcome = attemptOutcome(result);
    this.#attempts.inc(`${upstream}\u0001${outcome}`, () => ({ upstream, outcome }));
    if (retry) this.#retries.inc(upstream, () => ({ upstream }));
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** What metrics need of a finished request: a ledger row, or its parts for a request refused before the record stage. */
export type RequestSummary = Pick<
  LedgerRow,
  | 'requestedModel'
  | 'model'
  | 'route'
  | 'status'
  | 'errorCode'
  | 'latencyMs'
  | 'cache'
  | 'inputTokens'
  | 'cacheReadTokens'
  | 'cacheWriteTokens'
  | 'outputTokens'
  | 'costUsd'
  | 'costAvoidedUsd'
  | 'promptCacheSavedUsd'
  | 'coalesced'
>;
