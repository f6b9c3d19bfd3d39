/**
 * `npm run bench`: the same requests, on the same machine, against the same simulated upstream
 * (0 ms latency): straight to the upstream, through Sluice and through Portkey's gateway, at
 * concurrency 1 and 50, non-streaming and streaming, plus stream time to first byte.
 * Every server runs in its own process; the load generator (autocannon) runs here.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findProfiles, formatSummary, summariseProfile } from './lib/cpuprofile.js';
import { Lab } from './lib/lab.js';
import { runLoad } from './lib/load.js';
import { busyShare, describeMachine, machineInfo } from './lib/machine.js';
import { writeSection } from './lib/markdown.js';
import { describeRevision, gitRevision } from './lib/revision.js';
import {
  checks,
  checksTable,
  loadTable,
  medianRound,
  type Outcome,
  roundSummary,
  sortKey,
  ttfbTable,
} from './lib/report.js';
import {
  allScenarios,
  type Group,
  hasExactCache,
  type Scenario,
  SLUICE_CONFIG,
  selectScenarios,
} from './lib/scenarios.js';
import { chatRequest } from './lib/targets.js';
import { measureTtfb } from './lib/ttfb.js';
import { verifyChat } from './lib/verify.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const MARKDOWN = join(ROOT, 'BENCHMARKS.md');
/** Per-token delay of the upstream the TTFB runs use: the first event and the rest are apart. */
const PACED_TOKEN_DELAY_MS = 3;
/** CPU share used by other processes above which the numbers are flagged as noisy. */
const BUSY_WARNING = 0.25;

const USAGE = `npm run bench -- [options]

  --only LIST        scenarios to run: names, groups (core, translate, cache), targets (direct,
                     sluice, portkey) or globs like '*-c50'; comma-separated or repeated.
                     The translate group's baselines are sluice-{json,stream}-c{1,50} (core):
                     --only 'sluice-*' runs both
  --quick            2 s per scenario, 0.5 s warm-up, 50 TTFB requests (for iterating)
  --rounds N         repeat the whole list N times, keep each scenario's median round
                     (use 3 on a shared or noisy machine; default 1)
  --duration S       seconds measured per load scenario (default 5)
  --warmup S         seconds of discarded warm-up load before each (default 1)
  --ttfb-requests N  sequential streams per TTFB scenario (default 200)
  --profile          run Sluice under node --cpu-prof and summarise where its time goes
  --profile-dir DIR  where the .cpuprofile files go (implies --profile; default /tmp/...)
  --md / --no-md     force / skip rewriting BENCHMARKS.md (default: full, unprofiled runs only)
  --no-save          print only: no results file, no BENCHMARKS.md
  --sluice-config J  JSON merged into every Sluice config (ablations, e.g. '{"cache":{"enabled":false}}');
                     implies --no-md
  --list             list the scenarios and exit`;

interface Settings {
  rounds: number;
  durationS: number;
  warmupS: number;
  ttfbRequests: number;
  ttfbWarmup: number;
  pacedTokenDelayMs: number;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      'ttfb-requests': { type: 'string' },
      profile: { type: 'boolean', default: false },
      'profile-dir': { type: 'string' },
      md: { type: 'boolean' },
      'no-md': { type: 'boolean', default: false },
      'no-save': { type: 'boolean', default: false },
      'sluice-config': { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const all = allScenarios();
  if (values.list) {
    for (const s of all) console.log(`${s.name.padEnd(30)} ${s.group.padEnd(9)} ${s.about}`);
    return 0;
  }

  const settings: Settings = {
    rounds: Math.round(positive(values.rounds, '--rounds') ?? 1),
    durationS: positive(values.duration, '--duration') ?? (values.quick ? 2 : 5),
    warmupS: nonNegative(values.warmup, '--warmup') ?? (values.quick ? 0.5 : 1),
    ttfbRequests: positive(values['ttfb-requests'], '--ttfb-requests') ?? (values.quick ? 50 : 200),
    ttfbWarmup: values.quick ? 10 : 30,
    pacedTokenDelayMs: PACED_TOKEN_DELAY_MS,
  };
  const only = (values.only ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  let scenarios = selectScenarios(all, only);
  if (!hasExactCache(ROOT)) {
    const cache = scenarios.filter((s) => s.group === 'cache');
    if (cache.length > 0 && only.length > 0 && cache.length === scenarios.length) {
      throw new Error(
        'the build has no exact cache (dist/cache/*exact*.js): build it first, or drop the cache scenarios.',
      );
    }
    if (cache.length > 0)
      progress(`skipping ${cache.length} cache scenarios: the gateway does not wire the exact cache in yet`);
    scenarios = scenarios.filter((s) => s.group !== 'cache');
  }

  const warning = Lab.checkBuild(ROOT);
  if (warning) progress(warning);
  const profileDir =
    values.profile || values['profile-dir']
      ? (values['profile-dir'] ?? `/tmp/sluice-bench-prof-${Date.now()}`)
      : undefined;
  const machine = machineInfo();
  const revision = gitRevision(ROOT);
  const busy = await busyShare();
  progress(
    `machine: ${describeMachine(machine)}; load average ${machine.loadAverage1m}` +
      (busy === undefined ? '' : `; ${Math.round(busy * 100)} % CPU busy before the run`),
  );
  if (busy !== undefined && busy > BUSY_WARNING) {
    progress(
      `WARNING: other processes keep the CPUs ${Math.round(busy * 100)} % busy: expect noisy numbers.`,
    );
  }
  progress(
    `${scenarios.length} scenarios, about ${Math.ceil(estimateSeconds(scenarios, settings))} s` +
      (profileDir ? `; profiling Sluice into ${profileDir}` : ''),
  );

  const lab = new Lab({
    root: ROOT,
    pacedTokenDelayMs: settings.pacedTokenDelayMs,
    profileDir,
    sluiceConfig: withExtraConfig(SLUICE_CONFIG, values['sluice-config']),
    log: (line) => progress(`  ${line}`),
  });
  const outcomes: Outcome[] = [];
  const startedAt = new Date();
  let services: Array<{ name: string; pid: number; port: number }> = [];
  try {
    // Direct, Sluice and Portkey of one mode and concurrency run back to back, under the same
    // background load; with --rounds, the whole list repeats and each scenario keeps its median.
    const order = [...scenarios].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
    const rounds = new Map<string, Outcome[]>();
    let step = 0;
    for (let round = 1; round <= settings.rounds; round++) {
      for (const scenario of order) {
        step++;
        const tag = settings.rounds > 1 ? ` (round ${round}/${settings.rounds})` : '';
        progress(`[${step}/${order.length * settings.rounds}] ${scenario.name}${tag}: ${scenario.about}`);
        const outcome = await runScenario(lab, scenario, settings);
        progress(`    ${describeOutcome(outcome)}`);
        rounds.set(scenario.name, [...(rounds.get(scenario.name) ?? []), outcome]);
      }
    }
    for (const scenario of order) {
      const all = rounds.get(scenario.name) ?? [];
      const chosen = medianRound(all);
      outcomes.push(all.length > 1 ? { ...chosen, rounds: all.map(roundSummary) } : chosen);
    }
    services = (await lab.started()).map((s) => ({ name: s.name, pid: s.pid, port: s.port }));
  } finally {
    await lab.close();
  }

  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`;
  const groups = [...new Set(scenarios.map((s) => s.group))];
  const report = groups.map((g) => groupReport(g, outcomes)).join('\n\n');
  const checkList = checks(outcomes);
  console.log(`\n${report}\n\n### Targets\n\n${checksTable(checkList)}\n`);

  if (!values['no-save']) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stamp = startedAt
      .toISOString()
      .replace(/\.\d+Z$/, 'Z')
      .replaceAll(':', '-');
    const file = join(RESULTS_DIR, `${groups.join('+')}-${stamp}.json`);
    const saved = {
      command,
      startedAt: startedAt.toISOString(),
      revision,
      machine: { ...machine, cpuBusyBeforeRun: busy },
      settings: { ...settings, quick: values.quick, only, profiled: profileDir !== undefined },
      services,
      outcomes: outcomes.map(({ scenario, load, ttfb, error, rounds }) => ({
        ...scenario,
        load,
        ttfb,
        error,
        rounds,
      })),
      checks: checkList,
    };
    writeFileSync(file, `${JSON.stringify(saved, null, 2)}\n`);
    progress(`results: ${relative(ROOT, file)}`);

    const writeMd =
      values.md ?? (!values['no-md'] && !values.quick && !profileDir && !values['sluice-config']);
    for (const group of groups) {
      const complete = all
        .filter((s) => s.group === group)
        .every((s) => outcomes.some((o) => o.scenario.name === s.name));
      if (!writeMd || !complete) continue;
      const section = [
        groupReport(group, outcomes),
        checkList.some((c) => c.group === group)
          ? `#### Targets\n\n${checksTable(checkList.filter((c) => c.group === group))}`
          : '',
        `Produced by \`${command}\` on ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC ` +
          `(${describeRevision(revision)}): ` +
          `${describeMachine(machine)}` +
          (busy === undefined
            ? '. '
            : `, ${Math.round(busy * 100)} % CPU busy with other work before the run. `) +
          footnote(settings),
      ].join('\n\n');
      writeSection(MARKDOWN, group, section);
      progress(`BENCHMARKS.md: rewrote the '${group}' section`);
    }
    if (!writeMd) progress('BENCHMARKS.md left alone (quick, partial or profiled run; --md forces it)');
  }

  if (profileDir) {
    const summaries = findProfiles(profileDir).map((f) => formatSummary(summariseProfile(f, ROOT), 40));
    const text = summaries.join('\n\n');
    console.log(
      `\n### Where Sluice's time goes (CPU profile)\n\n${text || `no .cpuprofile found in ${profileDir}`}`,
    );
    if (!values['no-save'] && text) {
      const file = join(
        RESULTS_DIR,
        `profile-${startedAt
          .toISOString()
          .replace(/\.\d+Z$/, 'Z')
          .replaceAll(':', '-')}.txt`,
      );
      writeFileSync(file, `${command}\n\n${text}\n`);
      progress(`profile summary: ${relative(ROOT, file)}`);
    }
  }

  const failed = outcomes.filter((o) => o.error);
  if (failed.length > 0) {
    progress(`\n${failed.length} scenario(s) failed:`);
    for (const o of failed) progress(`  ${o.scenario.name}: ${o.error}`);
    return 1;
  }
  return 0;
}

async function runScenario(lab: Lab, scenario: Scenario, settings: Settings): Promise<Outcome> {
  try {
    if (scenario.kind === 'ttfb') {
      const spec = await chatRequest(lab, scenario.target, { stream: true, paced: true });
      await verifyChat(spec, true, scenario.name);
      const ttfb = await measureTtfb(spec, { requests: settings.ttfbRequests, warmup: settings.ttfbWarmup });
      return { scenario, ttfb };
    }
    const request = scenario.request ?? 'openai';
    const spec = await chatRequest(lab, scenario.target, {
      stream: scenario.stream,
      request,
      paced: false,
      headers: scenario.headers,
      fields: scenario.fields,
      uniqueSeed: scenario.uniqueSeed,
    });
    const dialect = request === 'anthropic' ? 'anthropic' : 'openai';
    if (scenario.prime) await verifyChat(spec, scenario.stream, `${scenario.name} (priming)`, dialect);
    const checked = await verifyChat(spec, scenario.stream, scenario.name, dialect);
    // The simulated upstream names Anthropic messages msg_…, chat completions chatcmpl-…; the
    // translated reply keeps the upstream's id, so this shows which dialect answered.
    const upstreamDialect = checked.id.startsWith('msg_') ? 'anthropic' : 'openai';
    const expectedUpstream = request === 'openai' ? 'openai' : 'anthropic';
    if (upstreamDialect !== expectedUpstream) {
      throw new Error(
        `the reply (id '${checked.id}') came from the ${upstreamDialect} dialect, expected ${expectedUpstream}; ` +
          'check the upstreams of the Sluice config in bench/lib/lab.ts',
      );
    }
    if (scenario.expectCache) {
      const seen = checked.headers.get('x-sluice-cache') ?? '';
      if (!scenario.expectCache.includes(seen)) {
        throw new Error(
          `x-sluice-cache was '${seen}', expected ${scenario.expectCache.map((v) => `'${v}'`).join(' or ')}; ` +
            'check SLUICE_CONFIG in bench/lib/scenarios.ts against the cache config',
        );
      }
    }
    const measured = await lab.get(scenario.target === 'direct' ? 'mock' : scenario.target);
    const load = await runLoad(spec, {
      connections: scenario.connections,
      durationS: settings.durationS,
      warmupS: settings.warmupS,
      cpuPid: measured.pid,
    });
    if (load.errors + load.timeouts + load.non2xx > 0) {
      return {
        scenario,
        load,
        error: `${load.errors} errors, ${load.timeouts} timeouts, ${load.non2xx} non-2xx replies during the run`,
      };
    }
    return { scenario, load };
  } catch (e) {
    return { scenario, error: (e as Error).message };
  }
}

function describeOutcome(o: Outcome): string {
  if (o.error) return `FAILED: ${o.error.split('\n')[0]}`;
  if (o.load) {
    const l = o.load.latency;
    return `${Math.round(o.load.rps)} req/s, p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms (${o.load.responses} replies)`;
  }
  if (o.ttfb) {
    const t = o.ttfb;
    return `TTFB p50 ${t.firstByte.p50.toFixed(2)} ms, p99 ${t.firstByte.p99.toFixed(2)} ms; whole stream p50 ${t.total.p50.toFixed(2)} ms`;
  }
  return 'no result';
}

const GROUP_TITLES: Record<Group, string> = {
  core: 'Proxy overhead: direct vs Sluice vs Portkey',
  translate: 'Translated calls: OpenAI route to an Anthropic upstream vs untranslated (issue 10)',
  cache: 'Exact cache over HTTP',
};

function groupReport(group: Group, outcomes: Outcome[]): string {
  const mine = outcomes.filter((o) => o.scenario.group === group);
  const parts = [`### ${GROUP_TITLES[group]}`, loadTable(outcomes, group)];
  const ttfb = ttfbTable(mine);
  if (ttfb)
    parts.push(
      `Stream time to first byte (concurrency 1, sequential streams from an upstream pacing tokens ${PACED_TOKEN_DELAY_MS} ms apart):\n\n${ttfb}`,
    );
  return parts.filter((p) => p !== '').join('\n\n');
}

function footnote(s: Settings): string {
  return (
    `Each load scenario: autocannon, keep-alive, ${s.warmupS} s warm-up then ${s.durationS} s measured` +
    (s.rounds > 1 ? `, repeated in ${s.rounds} interleaved rounds (the median round is shown); ` : '; ') +
    `latencies are per-request wall times from the load generator (sub-millisecond). CPU µs per reply: user + system CPU time of the process under test (the proxy; the simulated upstream for direct) over the measured run, from /proc, per 2xx reply — steadier than req/s on a shared machine, since it does not count time the process waited for a core. ` +
    `TTFB: ${s.ttfbRequests} sequential streams after ${s.ttfbWarmup} warm-up ones. ` +
    'The simulated upstream (0 ms latency), the gateway and the load generator are separate processes ' +
    'sharing the same cores, so at concurrency 50 they compete for CPU: ratios are more telling than absolute numbers.'
  );
}

function estimateSeconds(scenarios: Scenario[], s: Settings): number {
  const perStreamMs = 8 * s.pacedTokenDelayMs + 2;
  return (
    s.rounds *
    scenarios.reduce(
      (sum, sc) =>
        sum +
        (sc.kind === 'load'
          ? s.warmupS + s.durationS + 0.5
          : ((s.ttfbRequests + s.ttfbWarmup) * perStreamMs) / 1000),
      3,
    )
  );
}

function positive(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${flag} must be a number > 0, got '${v}'`);
  return n;
}

function nonNegative(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n >= 0)) throw new Error(`${flag} must be a number >= 0, got '${v}'`);
  return n;
}

process.once('SIGINT', () => {
  progress('interrupted: stopping the servers');
  process.exit(130);
});

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    progress(`bench: ${(e as Error).message ?? e}`);
    process.exit(1);
  },
);

/** The scenario configs with `extra` (JSON from --sluice-config) merged over each, top-level keys replaced. */
function withExtraConfig(configs: typeof SLUICE_CONFIG, extra: string | undefined): typeof SLUICE_CONFIG {
  if (extra === undefined) return configs;
  let parsed: unknown;
  try {
    parsed = JSON.parse(extra);
  } catch (e) {
    throw new Error(`--sluice-config must be a JSON object: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('--sluice-config must be a JSON object');
  }
  return {
    sluice: { ...configs.sluice, ...parsed },
    'sluice-cache': { ...configs['sluice-cache'], ...parsed },
  };
}
