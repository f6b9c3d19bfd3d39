/**
 * Prometheus metrics (prom-client), one registry per gateway. Fed from the finished-request
 * record (requests, latency, tokens, cost, TTFT, overhead) and from the stage hooks
 * (cache lookups, queue wait, upstream attempts). Every label is bounded (labels.ts).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LedgerRow } from '../cost/ledger.js';
import { attemptOutcome, type ModelLabels, refusalReason, statusClass } from './labels.js';

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
  readonly #requests: Counter<'model' | 'route' | 'status'>;
  readonly #errors: Counter<'model' | 'route' | 'error_type'>;
  readonly #latency: Histogram<'model' | 'cache'>;
  readonly #tokens: Counter<'model' | 'type'>;
  readonly #cost: Counter<'model'>;
  readonly #avoided: Counter<'layer'>;
  readonly #ttft: Histogram<'model' | 'cache'>;
  readonly #overhead: Histogram<'route'>;
  readonly #lookups: Counter<'layer' | 'outcome'>;
  readonly #queueWait: Histogram<'upstream'>;
  readonly #attempts: Counter<'upstream' | 'outcome'>;
  readonly #retries: Counter<'upstream'>;
  readonly #refusals: Counter<'reason'>;
  readonly active: Gauge;

  constructor(models: ModelLabels, queue?: QueueDepthSource) {
    this.#models = models;
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'llm_requests_total',
      help: 'Requests finished, by model asked, route and status class.',
      labelNames: ['model', 'route', 'status'],
      registers,
    });
    this.#errors = new Counter({
      name: 'llm_errors_total',
      help: 'Requests that ended in an error, by error type (a fixed list).',
      labelNames: ['model', 'route', 'error_type'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'llm_latency_seconds',
      help: 'Whole-request latency as the gateway saw it, by model and the cache layer that answered.',
      labelNames: ['model', 'cache'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#tokens = new Counter({
      name: 'llm_tokens_total',
      help: 'Tokens billed, by model and type (input, cache_read, cache_write, output).',
      labelNames: ['model', 'type'],
      registers,
    });
    this.#cost = new Counter({
      name: 'llm_cost_usd_total',
      help: 'USD spent, by model that answered.',
      labelNames: ['model'],
      registers,
    });
    this.#avoided = new Counter({
      name: 'llm_cost_avoided_usd_total',
      help: 'USD not spent thanks to a cache layer (exact, semantic, flight, provider prompt cache).',
      labelNames: ['layer'],
      registers,
    });
    this.#ttft = new Histogram({
      name: 'llm_time_to_first_token_seconds',
      help: 'Streams: arrival to the first chunk sent to the client.',
      labelNames: ['model', 'cache'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#overhead = new Histogram({
      name: 'llm_gateway_overhead_seconds',
      help: "The gateway's own time: total minus time spent on upstream calls.",
      labelNames: ['route'],
      buckets: OVERHEAD_BUCKETS,
      registers,
    });
    this.#lookups = new Counter({
      name: 'llm_cache_lookups_total',
      help: 'Cache lookups by layer (exact, semantic) and outcome (hit, miss).',
      labelNames: ['layer', 'outcome'],
      registers,
    });
    this.#queueWait = new Histogram({
      name: 'llm_queue_wait_seconds',
      help: 'Time waited for an upstream slot.',
      labelNames: ['upstream'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#attempts = new Counter({
      name: 'llm_upstream_attempts_total',
      help: 'Upstream attempts by outcome (ok, 429, 4xx, 5xx, timeout, unreachable, aborted).',
      labelNames: ['upstream', 'outcome'],
      registers,
    });
    this.#retries = new Counter({
      name: 'llm_upstream_retries_total',
      help: 'Upstream attempts after the first one of a request (retries and fallbacks).',
      labelNames: ['upstream'],
      registers,
    });
    this.#refusals = new Counter({
      name: 'llm_refusals_total',
      help: 'Requests the gateway refused itself, by reason (rate limit, queue, budget, deadline, shutdown).',
      labelNames: ['reason'],
      registers,
    });
    this.active = new Gauge({
      name: 'llm_active_requests',
      help: 'Requests in the gateway now.',
      registers,
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
    this.#requests.inc({ model: asked, route: row.route, status: statusClass(row.status) });
    if (row.errorCode !== undefined) {
      this.#errors.inc({ model: asked, route: row.route, error_type: row.errorCode });
      const reason = refusalReason(row.errorCode);
      if (reason) this.#refusals.inc({ reason });
    }
    const totalSeconds = row.latencyMs / 1000;
    this.#latency.observe({ model: asked, cache: row.cache }, totalSeconds);
    if (timings.ttftSeconds !== undefined)
      this.#ttft.observe({ model: asked, cache: row.cache }, timings.ttftSeconds);
    this.#overhead.observe({ route: row.route }, Math.max(0, totalSeconds - (timings.upstreamSeconds ?? 0)));
    if (row.inputTokens) this.#tokens.inc({ model: used, type: 'input' }, row.inputTokens);
    if (row.cacheReadTokens) this.#tokens.inc({ model: used, type: 'cache_read' }, row.cacheReadTokens);
    if (row.cacheWriteTokens) this.#tokens.inc({ model: used, type: 'cache_write' }, row.cacheWriteTokens);
    if (row.outputTokens) this.#tokens.inc({ model: used, type: 'output' }, row.outputTokens);
    if (row.costUsd) this.#cost.inc({ model: used }, row.costUsd);
    if (row.costAvoidedUsd) {
      const layer = row.coalesced ? 'flight' : row.cache === 'semantic' ? 'semantic' : 'exact';
      this.#avoided.inc({ layer }, row.costAvoidedUsd);
    }
    if (row.promptCacheSavedUsd > 0) this.#avoided.inc({ layer: 'prompt' }, row.promptCacheSavedUsd);
  }

  cacheLookup(layer: 'exact' | 'semantic', hit: boolean): void {
    this.#lookups.inc({ layer, outcome: hit ? 'hit' : 'miss' });
  }

  queueWait(upstream: string, seconds: number): void {
    this.#queueWait.observe({ upstream }, seconds);
  }

  upstreamAttempt(upstream: string, result: number | string, retry: boolean): void {
    this.#attempts.inc({ upstream, outcome: attemptOutcome(result) });
    if (retry) this.#retries.inc({ upstream });
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
