/**
 * `npm run bench:observe`: what observability costs. The same non-streaming load (concurrency 50
 * by default) through Sluice with observability off (no metrics, no request log, no tracing: the
 * stage is left out of the pipeline), at its defaults (metrics and the per-request log line at
 * `info`, the shipped log level, stdout redirected to a file), and full (also
 * traces to a local OTLP collector, http/protobuf, which only drains what it gets). With
 * `--baseline DIR`, a build from before observability existed (DIR holds its dist/) runs too, to
 * show that "off" costs nothing against it. Rounds alternate the variants so drift on a shared
 * machine hits them alike; each variant's median round is reported. `--profile DIR` writes and
 * summarises a CPU profile per variant; `--md` writes the table into BENCHMARKS.md.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startService } from './lib/child.js';
import { findProfiles, formatSummary, summariseProfile } from './lib/cpuprofile.js';
import { Lab } from './lib/lab.js';
import { runLoad } from './lib/load.js';
import { describeMachine, machineInfo, processCpuMs } from './lib/machine.js';
import { writeSection } from './lib/markdown.js';
import { freePort, LOOPBACK } from './lib/ports.js';
import { describeRevision, gitRevision } from './lib/revision.js';
import { chatRequest } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    baseline: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'string' },
    md: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const connections = Number(values.connections);

interface Variant {
  name: string;
  root: string;
  config: Record<string, unknown>;
  env: Record<string, string>;
}

async function main(): Promise<void> {
  const warning = Lab.checkBuild(ROOT);
  if (warning) console.warn(warning);
  // The collector runs in its own process, as a real one would: receiving the spans must not
  // stall the load generator's event loop.
  const collectorPort = await freePort();
  const collector = await startService({
    name: 'otlp-collector',
    port: collectorPort,
    nodeArgs: [
      '-e',
      `require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-type': req.headers['content-type'] || 'application/json' }).end()); }).listen(${collectorPort}, ${JSON.stringify(LOOPBACK)});`,
    ],
  });
  const collectorUrl = collector.url;

  // The shipped log level everywhere: at the bench's usual `warn` the request line would not be written.
  const logLevel = 'info';
  const allVariants: Variant[] = [
    ...(values.baseline
      ? [{ name: 'baseline (before observability)', root: values.baseline, config: { logLevel }, env: {} }]
      : []),
    {
      name: 'off',
      root: ROOT,
      config: { logLevel, observe: { metrics: { enabled: false }, requestLog: { enabled: false } } },
      env: {},
    },
    { name: 'defaults (metrics + log line)', root: ROOT, config: { logLevel }, env: {} },
    {
      name: 'full (metrics + log line + traces)',
      root: ROOT,
      config: { logLevel },
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    },
    {
      name: 'full, http/json',
      root: ROOT,
      config: { logLevel },
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
    },
  ];
  const only = values.only?.split(',').map((s) => s.trim());
  const variants = allVariants.filter(
    (v) => v.name === 'off' || !only || only.some((o) => v.name.startsWith(o)),
  );
  const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // CPU the gateway (all its threads) and the collector spent per answered request: steadier than
  // throughput on a machine shared with other work, since it does not depend on who else got the cores.
  const cpuPerRequest = new Map<string, Array<{ gateway: number; collector: number }>>(
    variants.map((v) => [v.name, []]),
  );
  // One lab (simulated upstream + Sluice process) per variant, started once.
  const labs = variants.map((variant, i) => {
    const saved = { ...process.env };
    Object.assign(process.env, variant.env);
    const lab = new Lab({
      root: variant.root,
      pacedTokenDelayMs: 3,
      profileDir: values.profile ? join(values.profile, `variant-${i}`) : undefined,
      sluiceConfig: { sluice: variant.config, 'sluice-cache': {} },
      sluiceStdoutToFile: true,
      log: () => {},
    });
    process.env = saved;
    return lab;
  });
  let errors = 0;
  try {
    const specs = await Promise.all(
      labs.map((lab) => chatRequest(lab, 'sluice', { stream: false, paced: false })),
    );
    const gateways = await Promise.all(labs.map((lab) => lab.get('sluice')));
    for (let round = 0; round < rounds; round++) {
      // Each round starts one variant later, so none always runs first or right after another.
      const order = variants.map((_, k) => (k + round) % variants.length);
      for (const i of order) {
        const variant = variants[i];
        await runLoad(specs[i], { connections, durationS: 1, warmupS: 0 });
        const gatewayBefore = cpuMs(gateways[i].pid);
        const collectorBefore = cpuMs(collector.pid);
        const result = await runLoad(specs[i], { connections, durationS, warmupS: 0 });
        const used = {
          gateway: ((cpuMs(gateways[i].pid) - gatewayBefore) * 1000) / result.responses,
          collector: ((cpuMs(collector.pid) - collectorBefore) * 1000) / result.responses,
        };
        cpuPerRequest.get(variant.name)?.push(used);
        results.get(variant.name)?.push(result.rps);
        errors += result.errors + result.non2xx;
        console.log(
          `round ${round + 1} ${variant.name}: ${result.rps.toFixed(0)} req/s, gateway CPU ${used.gateway.toFixed(0)} µs/req (errors ${result.errors}, non-2xx ${result.non2xx})`,
        );
      }
    }
  } finally {
    for (const lab of labs) await lab.close();
  }
  await collector.stop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const offName = variants.find((v) => v.name === 'off') ? 'off' : variants[0].name;
  const cpu = (name: string) => {
    const xs = cpuPerRequest.get(name) ?? [];
    return { gateway: median(xs.map((x) => x.gateway)), collector: median(xs.map((x) => x.collector)) };
  };
  // Paired per round: each variant against "off" in the same round, then the median of those
  // ratios. Drift on the machine (other work coming and going) cancels out better than in a
  // ratio of medians taken over different moments.
  const offRounds = results.get(offName) ?? [];
  const offCpu = cpuPerRequest.get(offName) ?? [];
  const rows = [...results].map(([name, xs]) => {
    const m = median(xs);
    const cpuRounds = cpuPerRequest.get(name) ?? [];
    return {
      name,
      rounds: xs,
      median: m,
      share: median(xs.map((x, r) => x / offRounds[r])),
      cpu: cpu(name),
      cpuShare: median(cpuRounds.map((c, r) => c.gateway / offCpu[r].gateway)),
    };
  });
  console.log(`\nmedian of ${rounds} rounds, c${connections}, ${durationS} s each:`);
  for (const r of rows) {
    console.log(
      `  ${r.name.padEnd(38)} ${r.median.toFixed(0).padStart(7)} req/s  ${(r.share * 100).toFixed(1).padStart(5)} % of ${offName}  gateway CPU ${r.cpu.gateway.toFixed(0)} µs/req (${(r.cpuShare * 100).toFixed(0)} % of ${offName})  collector ${r.cpu.collector.toFixed(0)} µs/req`,
    );
  }
  if (values.profile) {
    for (const [i, variant] of variants.entries()) {
      for (const file of findProfiles(join(values.profile, `variant-${i}`))) {
        console.log(`\n## ${variant.name}\n${formatSummary(summariseProfile(file, variant.root), 40)}`);
      }
    }
  }
  if (values.md) writeSection(join(ROOT, 'BENCHMARKS.md'), 'observe', markdown(rows, offName, errors));
}

function markdown(
  rows: Array<{
    name: string;
    rounds: number[];
    median: number;
    share: number;
    cpu: { gateway: number; collector: number };
    cpuShare: number;
  }>,
  offName: string,
  errors: number,
): string {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = [
    '### What observability costs',
    '',
    `| variant | req/s (median) | throughput vs ${offName} | rounds (req/s) | gateway CPU µs/request | CPU vs ${offName} | collector CPU µs/request |`,
    '|---|--:|--:|---|--:|--:|--:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.median)} | ${(r.share * 100).toFixed(1)} % | ${r.rounds.map(fmt).join(', ')} | ${fmt(r.cpu.gateway)} | ${(r.cpuShare * 100).toFixed(0)} % | ${r.name.startsWith('full') ? fmt(r.cpu.collector) : ''} |`,
    ),
    '',
    `Produced by \`npm run bench:observe -- --rounds ${rounds} --duration ${durationS}${values.baseline ? ' --baseline DIR' : ''}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (${describeRevision(gitRevision(ROOT))}): ${describeMachine(machineInfo())}. Non-streaming chat completions, concurrency ${connections}, ${durationS} s measured after 1 s warm-up per round; each round runs every variant, starting one variant later than the round before; the "vs off" columns are the median over rounds of each round's ratio to "off" in that round; ${errors} errors or non-2xx answers in all. "off" disables metrics and the request log (no tracing configured), so the observability stage is left out of the pipeline. Log level \`info\` (the default) in every variant; stdout (the JSON logs, one line per request) is redirected to a file, as \`sluice serve > sluice.log\` would. Traces go to a local HTTP collector in its own process that drains each export and answers 200. The simulated upstream, the gateway and the load generator share 2 cores with other work, so only differences well above the spread between rounds mean anything; the CPU time per request (user + system, all threads, from /proc, median round) does not depend on who else had the cores and is the steadier measure. The collector's CPU is counted in the same window as the variant's load (exports trail by up to a second).`,
  ];
  return lines.join('\n');
}

const cpuMs = (pid: number): number => processCpuMs(pid) ?? Number.NaN;

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
