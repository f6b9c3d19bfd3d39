/**
 * Rollups kept in storage as rows are written (PostgreSQL), unlike `ledger-rollup.ts`, which
 * computes grouped sums from the rows at query time. What a stored rollup sums per (bucket, user, team, model): the usage report's measures, read
 * from a usage row's fields (`src/cost/ledger.ts` LedgerRow). A row of another shape sums as
 * zeros but still counts as a request. Money is summed in nano-dollars rounded exactly as the
 * report rounds (`Math.round(usd * 1e9)`), so a rollup equals the sum of its rows to the nano.
 */
export const ROLLUP_MEASURES = [
  'requests',
  'errors',
  'cost_nano',
  'unpriced',
  'avoided_nano',
  'saved_nano',
  'exact_hits',
  'semantic_hits',
  'coalesced',
  'input_tokens',
  'cache_read_tokens',
  'cache_write_tokens',
  'output_tokens',
  'estimated',
  'latency_ms',
] as const;

export type RollupMeasure = (typeof ROLLUP_MEASURES)[number];
export type RollupMeasures = Record<RollupMeasure, number>;

export type RollupGrain = 'minute' | 'day';
export const GRAIN_MS: Record<RollupGrain, number> = { minute: 60_000, day: 86_400_000 };

/** One rollup bucket as read back. `team` is null for calls without a team. */
export interface StoredRollupRow extends RollupMeasures {
  /** Epoch ms of the bucket's start (UTC minute or day). */
  bucket: number;
  user: string;
  team: string | null;
  model: string;
}

export interface StoredRollupFilter {
  grain: RollupGrain;
  /** Buckets starting at or after `since` and before `until` (epoch ms). */
  since: number;
  until?: number;
  where?: { user?: string; team?: string; model?: string };
}

const nano = (usd: unknown): number => (typeof usd === 'number' ? Math.round(usd * 1e9) : 0);
const count = (value: unknown): number => (typeof value === 'number' ? Math.round(value) : 0);
const flag = (value: boolean): number => (value ? 1 : 0);

export function rollupMeasures(row: Readonly<Record<string, unknown>>): RollupMeasures {
  return {
    requests: 1,
    errors: flag(row.outcome === 'error'),
    cost_nano: nano(row.costUsd),
    unpriced: flag(row.costUsd === null),
    avoided_nano: nano(row.costAvoidedUsd),
    saved_nano: nano(row.promptCacheSavedUsd),
    exact_hits: flag(row.cache === 'exact'),
    semantic_hits: flag(row.cache === 'semantic'),
    coalesced: flag(row.coalesced === true),
    input_tokens: count(row.inputTokens),
    cache_read_tokens: count(row.cacheReadTokens),
    cache_write_tokens: count(row.cacheWriteTokens),
    output_tokens: count(row.outputTokens),
    estimated: flag(row.usageEstimated === true),
    latency_ms: count(row.latencyMs),
  };
}
