/**
 * Usage reports from the ledger (the seed's N-day report, generalised): totals, per day, per
 * user, per team and per model, summed in nano-dollars so a report equals its rows exactly.
 * Serves `GET /admin/usage?user=&team=&model=&days=N`.
 */
import { SluiceError } from '../errors.js';
import { fromNano, toNano } from './cost.js';
import type { Ledger, LedgerRow } from './ledger.js';

export interface UsageQuery {
  user?: string;
  team?: string;
  model?: string;
  /** Calendar days (UTC) ending today, today included. */
  days: number;
  /** Also return one aggregate per (day, user, team, model). */
  detailed?: boolean;
  now?: number;
}

export interface UsageAggregate {
  requests: number;
  errors: number;
  cost_usd: number;
  /** Calls whose model has no known price: their cost is unknown, not zero. */
  unpriced_requests: number;
  cost_avoided_usd: number;
  prompt_cache_saved_usd: number;
  /** Answers that cost nothing: gateway cache hits, and calls coalesced with an identical one in flight. */
  cache_hits: { exact: number; semantic: number; coalesced: number };
  tokens: { input: number; cache_read: number; cache_write: number; output: number };
  estimated_usage_requests: number;
}

export interface UsageReport {
  since: string;
  until: string;
  days: number;
  filter: { user?: string; team?: string; model?: string };
  totals: UsageAggregate;
  by_day: Array<{ date: string } & UsageAggregate>;
  by_user: Record<string, UsageAggregate>;
  by_team: Record<string, UsageAggregate>;
  by_model: Record<string, UsageAggregate>;
  unpriced_models: string[];
  daily?: Array<{ date: string; user: string; team: string | null; model: string } & UsageAggregate>;
}

/** Running sums in integers; turned into an aggregate at the end. */
class Sum {
  requests = 0;
  errors = 0;
  costNano = 0;
  unpriced = 0;
  avoidedNano = 0;
  savedNano = 0;
  exact = 0;
  semantic = 0;
  coalesced = 0;
  input = 0;
  cacheRead = 0;
  cacheWrite = 0;
  output = 0;
  estimated = 0;

  add(row: LedgerRow): void {
    this.requests++;
    if (row.outcome === 'error') this.errors++;
    if (row.costUsd === null) this.unpriced++;
    else this.costNano += toNano(row.costUsd);
    this.avoidedNano += toNano(row.costAvoidedUsd);
    this.savedNano += toNano(row.promptCacheSavedUsd);
    if (row.cache === 'exact') this.exact++;
    else if (row.cache === 'semantic') this.semantic++;
    if (row.coalesced) this.coalesced++;
    this.input += row.inputTokens;
    this.cacheRead += row.cacheReadTokens;
    this.cacheWrite += row.cacheWriteTokens;
    this.output += row.outputTokens;
    if (row.usageEstimated) this.estimated++;
  }

  toJSON(): UsageAggregate {
    return {
      requests: this.requests,
      errors: this.errors,
      cost_usd: fromNano(this.costNano),
      unpriced_requests: this.unpriced,
      cost_avoided_usd: fromNano(this.avoidedNano),
      prompt_cache_saved_usd: fromNano(this.savedNano),
      cache_hits: { exact: this.exact, semantic: this.semantic, coalesced: this.coalesced },
      tokens: {
        input: this.input,
        cache_read: this.cacheRead,
        cache_write: this.cacheWrite,
        output: this.output,
      },
      estimated_usage_requests: this.estimated,
    };
  }
}

const DAY_MS = 86_400_000;
const dateOf = (ts: number): string => new Date(ts).toISOString().slice(0, 10);

function sumsBy(map: Map<string, Sum>, key: string): Sum {
  let s = map.get(key);
  if (!s) {
    s = new Sum();
    map.set(key, s);
  }
  return s;
}

const toRecord = (map: Map<string, Sum>): Record<string, UsageAggregate> =>
  Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)).map(([k, s]) => [k, s.toJSON()]));

export async function usageReport(ledger: Pick<Ledger, 'query'>, query: UsageQuery): Promise<UsageReport> {
  if (!(Number.isInteger(query.days) && query.days >= 1 && query.days <= 3660)) {
    throw new RangeError(`days must be an integer from 1 to 3660, got ${query.days}`);
  }
  const now = query.now ?? Date.now();
  const todayStart = Math.floor(now / DAY_MS) * DAY_MS;
  const since = todayStart - (query.days - 1) * DAY_MS;
  const until = todayStart + DAY_MS;
  const where: Partial<Record<keyof LedgerRow, string>> = {};
  if (query.user !== undefined) where.user = query.user;
  if (query.team !== undefined) where.team = query.team;
  if (query.model !== undefined) where.model = query.model;
  const rows = await ledger.query({ since, until, where });

  const totals = new Sum();
  const byDay = new Map<string, Sum>();
  for (let d = since; d < until; d += DAY_MS) byDay.set(dateOf(d), new Sum());
  const byUser = new Map<string, Sum>();
  const byTeam = new Map<string, Sum>();
  const byModel = new Map<string, Sum>();
  const daily = query.detailed ? new Map<string, Sum>() : undefined;
  const unpricedModels = new Set<string>();
  for (const row of rows) {
    const date = dateOf(row.ts);
    totals.add(row);
    sumsBy(byDay, date).add(row);
    sumsBy(byUser, row.user).add(row);
    if (row.team) sumsBy(byTeam, row.team).add(row);
    sumsBy(byModel, row.model).add(row);
    if (row.costUsd === null) unpricedModels.add(row.model);
    daily && sumsBy(daily, JSON.stringify([date, row.user, row.team ?? null, row.model])).add(row);
  }

  const report: UsageReport = {
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    days: query.days,
    filter: { user: query.user, team: query.team, model: query.model },
    totals: totals.toJSON(),
    by_day: [...byDay].map(([date, s]) => ({ date, ...s.toJSON() })),
    by_user: toRecord(byUser),
    by_team: toRecord(byTeam),
    by_model: toRecord(byModel),
    unpriced_models: [...unpricedModels].sort(),
  };
  if (daily) {
    report.daily = [...daily]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, s]) => {
        const [date, user, team, model] = JSON.parse(key) as [string, string, string | null, string];
        return { date, user, team, model, ...s.toJSON() };
      });
  }
  return report;
}

/** `GET /admin/usage?user=&team=&model=&days=N&detailed=1` → the report (days default 7, as the seed's). */
export function usageQueryFrom(params: URLSearchParams): UsageQuery {
  const text = (name: string) => params.get(name) || undefined;
  const daysText = params.get('days');
  const days = daysText === null || daysText === '' ? 7 : Number(daysText);
  if (!(Number.isInteger(days) && days >= 1 && days <= 3660)) {
    throw new SluiceError('invalid_request', `days must be an integer from 1 to 3660, got '${daysText}'`, {
      param: 'days',
    });
  }
  const detailed = params.get('detailed');
  return {
    user: text('user'),
    team: text('team'),
    model: text('model'),
    days,
    detailed: detailed === '1' || detailed === 'true',
  };
}
