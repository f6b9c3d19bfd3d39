/**
 * Stats computed from the shared ledger, so every instance in front of one SQLite file or one
 * Redis answers with the same numbers: totals for `/v1/stats`, and the series the dashboard
 * draws (per time bucket: requests, hits by layer, errors and refusals, latency percentiles of
 * cache hits and upstream calls, tokens, cost and cost avoided; per day: cost by model and
 * user, money saved per cache layer). Every query is bounded by a time range of at most
 * `MAX_RANGE_MS`: a refresh is two paged range scans (the window, and the days of the per-day
 * charts), each feeding every rollup at once. Cost grows with the rows in range (~10 µs a row).
 */
import type { BudgetScope, Budgets } from '../cost/budget.js';
import { fromNano } from '../cost/cost.js';
import type { LedgerRow } from '../cost/ledger.js';
import { SluiceError } from '../errors.js';
import type { LedgerRollupGroup, LedgerStore, LedgerSumSpec } from '../store/types.js';
import type { FeedbackBook, FeedbackSummary } from './feedback.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
export const MAX_RANGE_MS = 31 * DAY_MS;
const MIN_RANGE_MS = 5 * MINUTE_MS;
/** Bucket sizes the series may use: the smallest that keeps a range within MAX_POINTS. */
const BUCKETS_MS = [MINUTE_MS, 5 * MINUTE_MS, 10 * MINUTE_MS, 30 * MINUTE_MS, HOUR_MS, 3 * HOUR_MS];
const MAX_POINTS = 1440;
const TOP_N = 10;

/** Calls the gateway turned away itself (limits, budgets, queue, shutdown): not upstream failures. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'rate_limited',
  'queue_full',
  'budget_exceeded',
  'shutting_down',
  'queue_timeout',
  'deadline_unreachable',
]);

export interface StatsWindow {
  /** The range as asked, e.g. `1h`. */
  range: string;
  since: number;
  until: number;
  bucketMs: number;
}

/**
 * `range` is `<n>m`, `<n>h` or `<n>d`, from 5 minutes to 31 days. Buckets align to the clock
 * (whole minutes, hours), the last one holding now.
 */
export function statsWindow(rangeText: string | null, fallback: string, now = Date.now()): StatsWindow {
  const range = rangeText === null || rangeText === '' ? fallback : rangeText;
  const m = /^(\d{1,5})([mhd])$/.exec(range);
  const rangeMs = m ? Number(m[1]) * { m: MINUTE_MS, h: HOUR_MS, d: DAY_MS }[m[2] as 'm' | 'h' | 'd'] : NaN;
  if (!(rangeMs >= MIN_RANGE_MS && rangeMs <= MAX_RANGE_MS)) {
    throw new SluiceError(
      'invalid_request',
      `range must be a duration like 15m, 6h or 7d, from 5m to 31d; got '${range}'`,
      { param: 'range' },
    );
  }
  const bucketMs = BUCKETS_MS.find((b) => rangeMs / b <= MAX_POINTS) ?? BUCKETS_MS[BUCKETS_MS.length - 1];
  const until = (Math.floor(now / bucketMs) + 1) * bucketMs;
  return { range, since: until - Math.ceil(rangeMs / bucketMs) * bucketMs, until, bucketMs };
}

const NANO = 1e9;
/** The sums every usage rollup here asks for, in this order. */
const USAGE_SUMS: readonly LedgerSumSpec[] = [
  { field: 'costUsd', scale: NANO },
  { field: 'costAvoidedUsd', scale: NANO },
  { field: 'promptCacheSavedUsd', scale: NANO },
  { field: 'inputTokens' },
  { field: 'cacheReadTokens' },
  { field: 'cacheWriteTokens' },
  { field: 'outputTokens' },
];
const [COST, AVOIDED, PROMPT_SAVED, INPUT, CACHE_READ, CACHE_WRITE, OUTPUT] = USAGE_SUMS.map((_, i) => i);
/** Groups split by these, in this order, so hits, errors and refusals can be told apart. */
const OUTCOME_KEYS = ['cache', 'outcome', 'errorCode'] as const;

export interface LedgerTotals {
  total_requests: number;
  hits: { exact: number; semantic: number };
  /** (exact + semantic hits) / total_requests: a ratio of the counts above. */
  hit_rate: number;
  misses: number;
  errors: number;
  refusals: number;
  refusals_by_code: Record<string, number>;
  cost_usd: number;
  cost_avoided_usd: number;
  prompt_cache_saved_usd: number;
  tokens: { input: number; cache_read: number; cache_write: number; output: number };
}

/** Sums of outcome-keyed groups into totals (any buckets). */
class OutcomeSum {
  requests = 0;
  exact = 0;
  semantic = 0;
  miss = 0;
  errors = 0;
  refusals = 0;
  readonly refusalsByCode: Record<string, number> = {};
  readonly sums = USAGE_SUMS.map(() => 0);

  add(g: LedgerRollupGroup): void {
    const [cache, outcome, errorCode] = g.keys;
    this.requests += g.count;
    if (cache === 'exact') this.exact += g.count;
    else if (cache === 'semantic') this.semantic += g.count;
    else if (cache === 'miss') this.miss += g.count;
    if (outcome === 'error') this.errors += g.count;
    if (errorCode !== null && REFUSAL_CODES.has(errorCode)) {
      this.refusals += g.count;
      this.refusalsByCode[errorCode] = (this.refusalsByCode[errorCode] ?? 0) + g.count;
    }
    for (let i = 0; i < this.sums.length; i++) this.sums[i] += g.sums[i];
  }

  totals(): LedgerTotals {
    const hits = this.exact + this.semantic;
    return {
      total_requests: this.requests,
      hits: { exact: this.exact, semantic: this.semantic },
      hit_rate: this.requests === 0 ? 0 : hits / this.requests,
      misses: this.miss,
      errors: this.errors,
      refusals: this.refusals,
      refusals_by_code: this.refusalsByCode,
      cost_usd: fromNano(this.sums[COST]),
      cost_avoided_usd: fromNano(this.sums[AVOIDED]),
      prompt_cache_saved_usd: fromNano(this.sums[PROMPT_SAVED]),
      tokens: {
        input: this.sums[INPUT],
        cache_read: this.sums[CACHE_READ],
        cache_write: this.sums[CACHE_WRITE],
        output: this.sums[OUTPUT],
      },
    };
  }
}

export async function ledgerTotals(
  usage: LedgerStore<LedgerRow>,
  since: number,
  until: number,
): Promise<LedgerTotals> {
  const [groups] = await usage.rollup([
    { since, until, bucketMs: until - since, by: OUTCOME_KEYS, sums: USAGE_SUMS },
  ]);
  const sum = new OutcomeSum();
  for (const g of groups) sum.add(g);
  return sum.totals();
}

type Column = Array<number | null>;

export interface StatsSeries {
  window: { range: string; since: string; until: string; bucket_s: number };
  totals: LedgerTotals;
  /** Columns over the buckets; `t` is each bucket's start in epoch seconds (uPlot's x). */
  series: {
    t: number[];
    requests: number[];
    hits_exact: number[];
    hits_semantic: number[];
    errors: number[];
    refusals: number[];
    /** Share of the bucket's requests (0–1); null for a bucket with none. */
    hit_rate_exact: Column;
    hit_rate_semantic: Column;
    tokens_input: number[];
    tokens_output: number[];
    cost_usd: number[];
    cost_avoided_usd: number[];
    /** Latency (ms) percentiles of successful calls by who answered; null where none did. */
    latency_ms: Record<'exact' | 'semantic' | 'upstream', { p50: Column; p90: Column; p99: Column }>;
  };
  days: Array<{
    date: string;
    cost_usd: number;
    /** Money not spent thanks to each layer: L1 exact and L2 semantic hits, shared flights, L3 provider prompt cache. */
    saved_usd: { exact: number; semantic: number; flight: number; prompt_cache: number };
  }>;
  top_users: Array<{
    user: string;
    requests: number;
    cost_usd: number;
    /** Today's spend against the user's daily budget, when one applies. */
    budget?: { spent_usd: number; limit_usd: number; used: number };
  }>;
  top_models: Array<{ model: string; requests: number; cost_usd: number; cost_avoided_usd: number }>;
  feedback: FeedbackSummary;
}

/** Latency lines by the ledger's cache outcome: a miss is an upstream call (bypass is left out). */
const LATENCY_SERIES: ReadonlyMap<string | null, 'exact' | 'semantic' | 'upstream'> = new Map([
  ['exact', 'exact'],
  ['semantic', 'semantic'],
  ['miss', 'upstream'],
]);

export interface SeriesDeps {
  usage: LedgerStore<LedgerRow>;
  feedback: FeedbackBook;
  budgets?: Pick<Budgets, 'scopesFor' | 'status'>;
}

/** Days shown in the per-day charts: the range's days, at least a week. */
const MIN_DAYS = 7;

export async function statsSeries(deps: SeriesDeps, w: StatsWindow, now = Date.now()): Promise<StatsSeries> {
  const { usage } = deps;
  const days = Math.max(MIN_DAYS, Math.ceil((w.until - w.since) / DAY_MS));
  const dayUntil = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
  const daySince = dayUntil - days * DAY_MS;
  // Two scans: the window's rows for the per-bucket series, the days' rows for the rest.
  const byDay = (by: readonly string[]) => ({
    since: daySince,
    until: dayUntil,
    bucketMs: DAY_MS,
    by,
    sums: USAGE_SUMS,
  });
  const [[outcomes, latency], [byDayCache, byDayModel, byDayUser], feedback] = await Promise.all([
    usage.rollup([
      { since: w.since, until: w.until, bucketMs: w.bucketMs, by: OUTCOME_KEYS, sums: USAGE_SUMS },
      {
        since: w.since,
        until: w.until,
        bucketMs: w.bucketMs,
        by: ['cache'],
        sums: [],
        where: { outcome: 'ok' },
        quantiles: { field: 'latencyMs', ps: [0.5, 0.9, 0.99] },
      },
    ]),
    usage.rollup([byDay(['cache']), byDay(['model']), byDay(['user', 'tier'])]),
    deps.feedback.summary(w.since, w.until),
  ]);

  const n = Math.round((w.until - w.since) / w.bucketMs);
  const zeros = () => new Array<number>(n).fill(0);
  const nulls = (): Column => new Array<number | null>(n).fill(null);
  const s = {
    t: Array.from({ length: n }, (_, i) => (w.since + i * w.bucketMs) / 1000),
    requests: zeros(),
    hits_exact: zeros(),
    hits_semantic: zeros(),
    errors: zeros(),
    refusals: zeros(),
    hit_rate_exact: nulls(),
    hit_rate_semantic: nulls(),
    tokens_input: zeros(),
    tokens_output: zeros(),
    cost_usd: zeros(),
    cost_avoided_usd: zeros(),
    latency_ms: {
      exact: { p50: nulls(), p90: nulls(), p99: nulls() },
      semantic: { p50: nulls(), p90: nulls(), p99: nulls() },
      upstream: { p50: nulls(), p90: nulls(), p99: nulls() },
    },
  };
  const total = new OutcomeSum();
  const costNano = zeros();
  const avoidedNano = zeros();
  for (const g of outcomes) {
    total.add(g);
    const i = g.bucket;
    const [cache, outcome, errorCode] = g.keys;
    s.requests[i] += g.count;
    if (cache === 'exact') s.hits_exact[i] += g.count;
    if (cache === 'semantic') s.hits_semantic[i] += g.count;
    if (outcome === 'error') s.errors[i] += g.count;
    if (errorCode !== null && REFUSAL_CODES.has(errorCode)) s.refusals[i] += g.count;
    s.tokens_input[i] += g.sums[INPUT] + g.sums[CACHE_READ] + g.sums[CACHE_WRITE];
    s.tokens_output[i] += g.sums[OUTPUT];
    costNano[i] += g.sums[COST];
    avoidedNano[i] += g.sums[AVOIDED];
  }
  for (let i = 0; i < n; i++) {
    s.cost_usd[i] = fromNano(costNano[i]);
    s.cost_avoided_usd[i] = fromNano(avoidedNano[i]);
    if (s.requests[i] > 0) {
      s.hit_rate_exact[i] = s.hits_exact[i] / s.requests[i];
      s.hit_rate_semantic[i] = s.hits_semantic[i] / s.requests[i];
    }
  }
  for (const g of latency) {
    const who = LATENCY_SERIES.get(g.keys[0]);
    if (!who || !g.quantiles || g.quantiles.length === 0) continue;
    const [p50, p90, p99] = g.quantiles;
    s.latency_ms[who].p50[g.bucket] = p50;
    s.latency_ms[who].p90[g.bucket] = p90;
    s.latency_ms[who].p99[g.bucket] = p99;
  }

  return {
    window: {
      range: w.range,
      since: new Date(w.since).toISOString(),
      until: new Date(w.until).toISOString(),
      bucket_s: w.bucketMs / 1000,
    },
    totals: total.totals(),
    series: s,
    days: perDay(byDayCache, daySince, days),
    top_users: await topUsers(byDayUser, deps.budgets),
    top_models: topModels(byDayModel),
    feedback,
  };
}

function perDay(groups: LedgerRollupGroup[], since: number, days: number): StatsSeries['days'] {
  const out = Array.from({ length: days }, (_, i) => ({
    date: new Date(since + i * DAY_MS).toISOString().slice(0, 10),
    cost: 0,
    exact: 0,
    semantic: 0,
    flight: 0,
    prompt: 0,
  }));
  for (const g of groups) {
    const day = out[g.bucket];
    day.cost += g.sums[COST];
    day.prompt += g.sums[PROMPT_SAVED];
    // A call answered by an identical one in flight is a miss that avoided its cost.
    if (g.keys[0] === 'exact') day.exact += g.sums[AVOIDED];
    else if (g.keys[0] === 'semantic') day.semantic += g.sums[AVOIDED];
    else day.flight += g.sums[AVOIDED];
  }
  return out.map((d) => ({
    date: d.date,
    cost_usd: fromNano(d.cost),
    saved_usd: {
      exact: fromNano(d.exact),
      semantic: fromNano(d.semantic),
      flight: fromNano(d.flight),
      prompt_cache: fromNano(d.prompt),
    },
  }));
}

const bySpend = <T extends { cost_usd: number; requests: number }>(a: T, b: T) =>
  b.cost_usd - a.cost_usd || b.requests - a.requests;

async function topUsers(
  groups: LedgerRollupGroup[],
  budgets: SeriesDeps['budgets'],
): Promise<StatsSeries['top_users']> {
  const users = new Map<string, { requests: number; nano: number; tier?: string }>();
  for (const g of groups) {
    const [user, tier] = g.keys;
    if (user === null) continue;
    const u = users.get(user) ?? { requests: 0, nano: 0 };
    u.requests += g.count;
    u.nano += g.sums[COST];
    if (tier !== null) u.tier = tier;
    users.set(user, u);
  }
  const top = [...users]
    .map(([user, u]) => ({ user, requests: u.requests, cost_usd: fromNano(u.nano), tier: u.tier }))
    .sort(bySpend)
    .slice(0, TOP_N);
  return Promise.all(
    top.map(async ({ tier, ...row }) => {
      const scope = budgets
        ?.scopesFor({ user: row.user, ...(tier ? { tier } : {}) })
        .find((b: BudgetScope) => b.scope === 'user' && b.window === 'day');
      if (!budgets || !scope) return row;
      const [status] = await budgets.status([scope]);
      return {
        ...row,
        budget: {
          spent_usd: status.spent_usd,
          limit_usd: status.limit_usd,
          used: status.limit_usd > 0 ? status.spent_usd / status.limit_usd : 0,
        },
      };
    }),
  );
}

function topModels(groups: LedgerRollupGroup[]): StatsSeries['top_models'] {
  const models = new Map<string, { requests: number; cost: number; avoided: number }>();
  for (const g of groups) {
    const model = g.keys[0];
    if (model === null) continue;
    const m = models.get(model) ?? { requests: 0, cost: 0, avoided: 0 };
    m.requests += g.count;
    m.cost += g.sums[COST];
    m.avoided += g.sums[AVOIDED];
    models.set(model, m);
  }
  return [...models]
    .map(([model, m]) => ({
      model,
      requests: m.requests,
      cost_usd: fromNano(m.cost),
      cost_avoided_usd: fromNano(m.avoided),
    }))
    .sort(bySpend)
    .slice(0, TOP_N);
}
