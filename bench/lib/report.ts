import type { LoadResult } from './load.js';
import type { Group, LoadScenario, Scenario } from './scenarios.js';
import type { TargetId } from './targets.js';
import type { TtfbResult } from './ttfb.js';

/** What one scenario produced. */
export interface Outcome {
  scenario: Scenario;
  load?: LoadResult;
  ttfb?: TtfbResult;
  /** Why the scenario has no valid numbers (failed verification, errors under load). */
  error?: string;
  /** Every round's headline numbers, when the run had several. */
  rounds?: RoundSummary[];
}

export interface RoundSummary {
  rps?: number;
  p50?: number;
  p99?: number;
  ttfbP50?: number;
  error?: string;
}

export function roundSummary(o: Outcome): RoundSummary {
  return {
    rps: o.load?.rps,
    p50: o.load?.latency.p50,
    p99: o.load?.latency.p99,
    ttfbP50: o.ttfb?.firstByte.p50,
    error: o.error,
  };
}

export interface Check {
  /** The BENCHMARKS.md section it belongs to. */
  group: Group;
  check: string;
  measured: string;
  target: string;
  /** undefined: a reference figure with no target. */
  pass?: boolean;
}

const ms = (x: number | undefined, digits = 2) =>
  x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits);
const plusMs = (x: number | undefined) =>
  x === undefined || Number.isNaN(x) ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
const rps = (x: number | undefined) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const ratio = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(x < 10 ? 2 : 1)}×`;

/** Lookups by scenario name over the valid outcomes. */
class Results {
  readonly #byName: Map<string, Outcome>;
  constructor(outcomes: Outcome[]) {
    this.#byName = new Map(outcomes.filter((o) => !o.error).map((o) => [o.scenario.name, o]));
  }
  load(name: string): LoadResult | undefined {
    return this.#byName.get(name)?.load;
  }
  ttfb(name: string): TtfbResult | undefined {
    return this.#byName.get(name)?.ttfb;
  }
}

/**
 * The scenario each load scenario is compared with: the bare upstream for the proxy path, the
 * miss path for cache hits.
 */
function baselineOf(s: LoadScenario): { name: string; label: string } | undefined {
  const shape = `${s.stream ? 'stream' : 'json'}-c${s.connections}`;
  if (s.group === 'core')
    return s.target === 'direct' ? undefined : { name: `direct-${shape}`, label: 'direct' };
  if (s.group === 'translate') return { name: `sluice-${shape}`, label: 'untranslated' };
  return s.name.startsWith('cache-hit-') ? { name: `cache-miss-${shape}`, label: 'miss' } : undefined;
}

/**
 * Load scenarios side by side (direct, Sluice, Portkey for each mode and concurrency), with
 * ratios. `outcomes` may hold other groups' scenarios: they are baselines, not rows.
 */
export function loadTable(outcomes: Outcome[], group: Group): string {
  const r = new Results(outcomes);
  const rows = outcomes
    .filter((o) => o.scenario.group === group && o.scenario.kind === 'load')
    .sort((a, b) => sortKey(a.scenario).localeCompare(sortKey(b.scenario)));
  if (rows.length === 0) return '';
  const vs = group === 'core' ? 'direct' : group === 'translate' ? 'untranslated' : 'miss';
  const lines = [
    `| scenario | req/s | p50 ms | p99 ms | req/s vs ${vs} | p50 added vs ${vs} (ms) | p99 added (ms) | CPU µs per reply |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const o of rows) {
    const s = o.scenario;
    if (o.error || !o.load || s.kind !== 'load') {
      lines.push(
        `| ${s.name} | failed: ${(o.error ?? 'no result').split('\n')[0].slice(0, 80)} | | | | | | |`,
      );
      continue;
    }
    const baseline = baselineOf(s);
    const base = baseline ? r.load(baseline.name) : undefined;
    lines.push(
      `| ${s.name} | ${rps(o.load.rps)} | ${ms(o.load.latency.p50)} | ${ms(o.load.latency.p99)} | ` +
        `${base ? ratio(o.load.rps / base.rps) : ''} | ` +
        `${base ? plusMs(o.load.latency.p50 - base.latency.p50) : ''} | ` +
        `${base ? plusMs(o.load.latency.p99 - base.latency.p99) : ''} | ` +
        `${o.load.cpuUsPerReply === undefined ? '' : Math.round(o.load.cpuUsPerReply)} |`,
    );
  }
  return lines.join('\n');
}

export function ttfbTable(outcomes: Outcome[]): string {
  const r = new Results(outcomes);
  const rows = outcomes.filter((o) => o.scenario.kind === 'ttfb');
  if (rows.length === 0) return '';
  const direct = r.ttfb('direct-ttfb');
  const lines = [
    '| scenario | TTFB p50 ms | TTFB p99 ms | TTFB p50 added vs direct (ms) | p99 added (ms) | headers p50 ms | whole stream p50 ms |',
    '|---|--:|--:|--:|--:|--:|--:|',
  ];
  for (const o of rows) {
    const t = o.ttfb;
    if (o.error || !t) {
      lines.push(
        `| ${o.scenario.name} | failed: ${(o.error ?? 'no result').split('\n')[0].slice(0, 80)} | | | | | |`,
      );
      continue;
    }
    const vs = o.scenario.target !== 'direct' && direct;
    lines.push(
      `| ${o.scenario.name} | ${ms(t.firstByte.p50)} | ${ms(t.firstByte.p99)} | ` +
        `${vs ? plusMs(t.firstByte.p50 - direct.firstByte.p50) : ''} | ${vs ? plusMs(t.firstByte.p99 - direct.firstByte.p99) : ''} | ` +
        `${ms(t.headers.p50)} | ${ms(t.total.p50)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * The round whose throughput (load) or TTFB p50 is the median, so one disturbed round does not
 * decide the result; a scenario that failed in any round is reported as failed.
 */
export function medianRound(rounds: Outcome[]): Outcome {
  const failed = rounds.find((o) => o.error);
  if (failed) return failed;
  const value = (o: Outcome) => o.load?.rps ?? o.ttfb?.firstByte.p50 ?? 0;
  const sorted = [...rounds].sort((a, b) => value(a) - value(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The targets, measured. A check whose scenarios did not run is left out. */
export function checks(outcomes: Outcome[]): Check[] {
  const r = new Results(outcomes);
  const list: Check[] = [];
  const push = (
    check: string,
    value: number | undefined,
    show: (x: number) => string,
    target?: [string, (x: number) => boolean],
  ) => {
    if (value === undefined || Number.isNaN(value)) return;
    const group: Group = check.startsWith('Exact-cache')
      ? 'cache'
      : check.startsWith('Translated')
        ? 'translate'
        : 'core';
    list.push({
      group,
      check,
      measured: show(value),
      target: target?.[0] ?? 'reference',
      pass: target?.[1](value),
    });
  };
  const div = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : a / b);
  const sub = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : a - b);
  const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
  const addMs = (x: number) => `${plusMs(x)} ms`;

  for (const mode of ['json', 'stream'] as const) {
    const label = mode === 'json' ? 'non-streaming' : 'streaming';
    const [d50, s50, p50] = ['direct', 'sluice', 'portkey'].map((t) => r.load(`${t}-${mode}-c50`));
    const [d1, s1, p1] = ['direct', 'sluice', 'portkey'].map((t) => r.load(`${t}-${mode}-c1`));
    push(`Sluice ÷ Portkey throughput, c=50, ${label}`, div(s50?.rps, p50?.rps), ratio, [
      '≥ 10×',
      (x) => x >= 10,
    ]);
    push(`Sluice ÷ direct throughput, c=50, ${label}`, div(s50?.rps, d50?.rps), pct, [
      '≥ 40 %',
      (x) => x >= 0.4,
    ]);
    push(`Sluice added p50 latency, c=1, ${label}`, sub(s1?.latency.p50, d1?.latency.p50), addMs, [
      '≤ 0.3 ms',
      (x) => x <= 0.3,
    ]);
    push(`Sluice added p99 latency, c=1, ${label}`, sub(s1?.latency.p99, d1?.latency.p99), addMs, [
      '≤ 1 ms',
      (x) => x <= 1,
    ]);
    push(`Portkey throughput, c=50, ${label} (req/s)`, p50?.rps, rps);
    push(`Portkey added p50 latency, c=1, ${label}`, sub(p1?.latency.p50, d1?.latency.p50), addMs);
    const [f1, f50] = [r.load(`floor-${mode}-c1`), r.load(`floor-${mode}-c50`)];
    push(`Floor proxy ÷ direct throughput, c=50, ${label}`, div(f50?.rps, d50?.rps), pct);
    push(`Floor proxy added p50 latency, c=1, ${label}`, sub(f1?.latency.p50, d1?.latency.p50), addMs);
    // Issue 10's targets: Sluice against the floor proxy measured in the same run.
    push(`Sluice ÷ floor proxy throughput, c=50, ${label}`, div(s50?.rps, f50?.rps), pct, [
      '≥ 85 %',
      (x) => x >= 0.85,
    ]);
    push(`Sluice added p50 beyond the floor's, c=1, ${label}`, sub(s1?.latency.p50, f1?.latency.p50), addMs, [
      '≤ 0.05 ms',
      (x) => x <= 0.05,
    ]);
    push(
      `Sluice ÷ floor proxy CPU per reply, c=50, ${label}`,
      div(s50?.cpuUsPerReply, f50?.cpuUsPerReply),
      ratio,
    );
  }
  const [dt, st, pt] = ['direct', 'sluice', 'portkey'].map((t) => r.ttfb(`${t}-ttfb`));
  push('Sluice added stream TTFB p50', sub(st?.firstByte.p50, dt?.firstByte.p50), addMs, [
    '≤ 0.5 ms',
    (x) => x <= 0.5,
  ]);
  push('Portkey added stream TTFB p50', sub(pt?.firstByte.p50, dt?.firstByte.p50), addMs);

  // Issue 10: translated calls within 10 % of untranslated ones (same route, body and upstream process).
  for (const mode of ['json', 'stream'] as const) {
    const label = mode === 'json' ? 'non-streaming' : 'streaming';
    const [plain50, translated50, anthropic50] = ['sluice', 'sluice-translated', 'sluice-anthropic'].map(
      (t) => r.load(`${t}-${mode}-c50`),
    );
    const [plain1, translated1] = [r.load(`sluice-${mode}-c1`), r.load(`sluice-translated-${mode}-c1`)];
    push(`Translated ÷ untranslated throughput, c=50, ${label}`, div(translated50?.rps, plain50?.rps), pct, [
      '≥ 90 %',
      (x) => x >= 0.9,
    ]);
    // The upstream's own work differs by dialect; against the native Anthropic route the ratio shows Sluice's translation alone.
    push(
      `Translated ÷ native Anthropic route throughput, c=50, ${label}`,
      div(translated50?.rps, anthropic50?.rps),
      pct,
    );
    push(
      `Translated added p50 latency vs untranslated, c=1, ${label}`,
      sub(translated1?.latency.p50, plain1?.latency.p50),
      addMs,
    );
  }

  const hit1 = r.load('cache-hit-json-c1');
  const hit50 = r.load('cache-hit-json-c50');
  const miss50 = r.load('cache-miss-json-c50');
  push('Exact-cache hit p50 latency, c=1', hit1?.latency.p50, (x) => `${ms(x)} ms`, [
    '≤ 0.3 ms',
    (x) => x <= 0.3,
  ]);
  push('Exact-cache hit ÷ miss throughput, c=50', div(hit50?.rps, miss50?.rps), ratio, [
    '≥ 1.5×',
    (x) => x >= 1.5,
  ]);
  // The miss path pays for the cache write; against the plain proxy path a hit shows what it saves.
  const proxy50 = r.load('sluice-json-c50');
  push('Exact-cache hit ÷ proxy path (not cacheable) throughput, c=50', div(hit50?.rps, proxy50?.rps), ratio);
  return list;
}

export function checksTable(list: Check[]): string {
  if (list.length === 0) return '';
  const lines = ['| check | measured | target | |', '|---|--:|--:|---|'];
  for (const c of list)
    lines.push(
      `| ${c.check} | ${c.measured} | ${c.target} | ${c.pass === undefined ? '' : c.pass ? 'pass' : '**miss**'} |`,
    );
  return lines.join('\n');
}

const TARGET_ORDER: Record<TargetId, number> = {
  direct: 0,
  floor: 1,
  sluice: 2,
  'sluice-cache': 3,
  portkey: 4,
};

/** Side-by-side order: per mode and concurrency, direct, floor, Sluice, Portkey; TTFB last. */
export function sortKey(s: Scenario): string {
  const order = TARGET_ORDER[s.target];
  if (s.kind !== 'load') return `z-${order}`;
  // Translated scenarios run right after their untranslated baselines, under the same load.
  return `${s.group === 'cache' ? 1 : 0}-${s.stream ? 1 : 0}-${String(s.connections).padStart(4, '0')}-${order}-${s.name}`;
}
