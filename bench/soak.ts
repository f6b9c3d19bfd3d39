/**
 * `npm run bench:soak` (issue 12, point 7): mixed traffic for a bounded time against one, then
 * three gateway processes sharing one Redis, round-robin, everything on 127.0.0.1.
 *
 * Traffic (closed loop, `--concurrency` workers): exact-cache hits (a hot set of prompts), misses
 * (unique prompts), OpenAI and Anthropic, JSON and streams, and faults injected at the simulated
 * upstream through its `x-mock-*` headers: 429s and 500s that clear on the retry, 500s that do not,
 * slow answers, streams dropped mid-way. Every 10 s it prints throughput, latency percentiles,
 * errors and each gateway's RSS and CPU; at the end a summary per phase, errors by request kind,
 * and (unless `--no-md`) the `soak` section of BENCHMARKS.md and a JSON file in bench/results/.
 *
 * Needs `npm run build` (the gateways run as `node dist/cli.js serve`) and `redis-server` on PATH
 * unless `--redis-url` names one (prompts carry a per-run salt, so a shared Redis is fine).
 *
 *   npm run bench:soak -- [--duration 60] [--instances 1,3] [--concurrency 64] [--latency-ms 30]
 *                         [--token-delay-ms 1] [--semantic] [--redis-url URL] [--no-md] [--json]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { type RedisProcess, startRedisProcess } from '../test/redis-process.js';
import { startService, type Service } from './lib/child.js';
import { busyShare, describeMachine, machineInfo } from './lib/machine.js';
import { writeSection } from './lib/markdown.js';
import { freePort, LOOPBACK } from './lib/ports.js';
import { describeRevision, gitRevision } from './lib/revision.js';
import { summarise } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist', 'cli.js');

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    instances: { type: 'string', default: '1,3' },
    concurrency: { type: 'string', default: '64' },
    'latency-ms': { type: 'string', default: '30' },
    'token-delay-ms': { type: 'string', default: '1' },
    'hot-prompts': { type: 'string', default: '200' },
    'sample-every': { type: 'string', default: '10' },
    semantic: { type: 'boolean', default: false },
    'redis-url': { type: 'string' },
    'no-md': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const durationS = Math.max(5, Math.min(3_600, Number(args.duration)));
const phases = args.instances.split(',').map((n) => Math.max(1, Math.min(8, Number(n))));
const concurrency = Math.max(1, Number(args.concurrency));
const upstreamLatencyMs = Number(args['latency-ms']);
const tokenDelayMs = Number(args['token-delay-ms']);
const hotPrompts = Math.max(1, Number(args['hot-prompts']));
const sampleEveryS = Math.max(1, Number(args['sample-every']));
const REQUEST_TIMEOUT_MS = 30_000;

/** What a request asks for; `share` is its fraction of all requests. */
interface Kind {
  name: string;
  share: number;
  dialect: 'openai' | 'anthropic';
  stream: boolean;
  /** Draw the prompt from the hot set (hits after its first use) rather than a unique one. */
  hot: boolean;
  headers?: (seq: number) => Record<string, string>;
  /** Failure the kind provokes on purpose, shown next to its errors. */
  injected?: string;
}

const KINDS: readonly Kind[] = [
  { name: 'hit (openai json)', share: 0.36, dialect: 'openai', stream: false, hot: true },
  { name: 'miss (openai json)', share: 0.22, dialect: 'openai', stream: false, hot: false },
  { name: 'anthropic json (hot)', share: 0.06, dialect: 'anthropic', stream: false, hot: true },
  { name: 'anthropic json (miss)', share: 0.04, dialect: 'anthropic', stream: false, hot: false },
  { name: 'stream (hot)', share: 0.08, dialect: 'openai', stream: true, hot: true },
  { name: 'stream (miss)', share: 0.08, dialect: 'openai', stream: true, hot: false },
  {
    name: '429 once, then ok',
    // Each 429 halves the upstream's adaptive concurrency limit (AIMD): a larger share makes the
    // limiter, not the gateway, the bottleneck of the whole run.
    share: 0.01,
    dialect: 'openai',
    stream: false,
    hot: false,
    injected: '429 on the first attempt',
    headers: (seq) => ({
      'x-mock-fault': '429',
      'x-mock-fail-times': '1',
      'x-mock-fail-key': `soak-429-${seq}`,
      'x-mock-retry-after-ms': '50',
    }),
  },
  {
    name: '500 once, then ok',
    share: 0.05,
    dialect: 'openai',
    stream: false,
    hot: false,
    injected: '500 on the first attempt',
    headers: (seq) => ({
      'x-mock-fault': '500',
      'x-mock-fail-times': '1',
      'x-mock-fail-key': `soak-500-${seq}`,
    }),
  },
  {
    name: '500 always',
    share: 0.01,
    dialect: 'openai',
    stream: false,
    hot: false,
    injected: '500 on every attempt',
    headers: () => ({ 'x-mock-fault': '500' }),
  },
  {
    name: 'slow upstream (300 ms)',
    share: 0.05,
    dialect: 'openai',
    stream: false,
    hot: false,
    injected: 'slow',
    headers: () => ({ 'x-mock-fault': 'slow', 'x-mock-slow-ms': '300' }),
  },
  {
    name: 'dropped mid-stream',
    share: 0.04,
    dialect: 'openai',
    stream: true,
    hot: false,
    injected: 'socket cut after 3 chunks',
    headers: () => ({ 'x-mock-fault': 'drop-mid-stream' }),
  },
];

/** Deterministic draws (mulberry32), so two runs offer the same mix in the same order. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pickKind(r: number): Kind {
  let acc = 0;
  for (const k of KINDS) {
    acc += k.share;
    if (r < acc) return k;
  }
  return KINDS[0];
}

interface Result {
  kind: string;
  ms: number;
  outcome: string;
  cache: string;
  at: number;
}

/** Send one request and read it to the end; the outcome is `ok` or what went wrong. */
async function send(
  url: string,
  kind: Kind,
  seq: number,
  salt: string,
  draw: () => number,
  dispatcher: Agent,
): Promise<Omit<Result, 'at'>> {
  const topic = kind.hot ? `hot ${Math.floor(draw() * hotPrompts)}` : `unique ${seq}`;
  const content = `soak ${salt} ${topic}: summarise why caches help`;
  const body =
    kind.dialect === 'openai'
      ? {
          model: 'gpt-4o-mini',
          temperature: 0,
          messages: [{ role: 'user', content }],
          ...(kind.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
        }
      : {
          model: 'claude-3-5-haiku-latest',
          max_tokens: 64,
          temperature: 0,
          messages: [{ role: 'user', content }],
          ...(kind.stream ? { stream: true } : {}),
        };
  const path = kind.dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages';
  const started = performance.now();
  try {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        // Hot prompts come from one user so they share a cache scope; the rest spread over 16 users.
        'x-sluice-user': kind.hot ? 'soak-hot' : `soak-user-${seq % 16}`,
        ...(kind.dialect === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {}),
        ...(kind.headers?.(seq) ?? {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      // @ts-expect-error undici's fetch takes a dispatcher (keep-alive pool per run); lib.dom's RequestInit does not know it.
      dispatcher,
    });
    const text = await res.text();
    const ms = performance.now() - started;
    const cache = res.headers.get('x-sluice-cache') ?? 'none';
    if (res.status >= 400) {
      let code = '';
      try {
        const json = JSON.parse(text) as { error?: { code?: string; type?: string } };
        code = json.error?.code ?? json.error?.type ?? '';
      } catch {
        code = 'non-JSON';
      }
      return { kind: kind.name, ms, outcome: `http ${res.status}${code ? ` ${code}` : ''}`, cache };
    }
    if (kind.stream) {
      if (/"type":"error"|^data: \{"error"/m.test(text))
        return { kind: kind.name, ms, outcome: 'stream error event', cache };
      const complete =
        kind.dialect === 'openai' ? text.includes('data: [DONE]') : text.includes('message_stop');
      if (!complete) return { kind: kind.name, ms, outcome: 'stream cut without an error event', cache };
    }
    return { kind: kind.name, ms, outcome: 'ok', cache };
  } catch (e) {
    const ms = performance.now() - started;
    const name = (e as Error).name;
    const outcome = name === 'TimeoutError' ? 'client timeout (30 s)' : `network: ${(e as Error).message}`;
    return { kind: kind.name, ms, outcome, cache: 'none' };
  }
}

/** RSS (MiB) and CPU seconds of a process, from /proc (Linux). */
function procSample(pid: number): { rssMiB: number; cpuS: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line (11 and 12 after the name), in ticks.
    const cpuS = (Number(fields[11]) + Number(fields[12])) / 100;
    return { rssMiB: rssKb / 1024, cpuS };
  } catch {
    return undefined;
  }
}

interface Interval {
  t: number;
  reqPerS: number;
  p50: number;
  p99: number;
  errors: number;
  rssMiB: number[];
  cpuPct: number[];
  loadgenCpuPct: number;
}

interface PhaseReport {
  instances: number;
  durationS: number;
  requests: number;
  reqPerS: number;
  okPerS: number;
  latency: { p50: number; p90: number; p99: number; max: number };
  latencyByKind: Record<string, { count: number; p50: number; p99: number }>;
  cache: Record<string, number>;
  outcomesByKind: Record<string, Record<string, number>>;
  unexpectedErrors: number;
  intervals: Interval[];
  rssStartMiB: number[];
  rssEndMiB: number[];
  gatewayCpuS: number[];
  upstreamCpuS: number;
  redisUsedMiB: number;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

async function runPhase(
  instances: number,
  redisUrl: string,
  upstreamUrl: string,
  upstream: Service,
): Promise<PhaseReport> {
  const work = mkdtempSync(join(tmpdir(), `sluice-soak-${instances}-`));
  const configFile = join(work, 'sluice.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      logLevel: 'warn',
      upstreams: (['openai', 'anthropic'] as const).map((kind) => ({
        name: `simulated-${kind}`,
        kind,
        baseUrl: `${upstreamUrl}/v1`,
        models: ['*'],
        forwardHeaderPrefixes: ['x-mock-'],
      })),
      semantic: { enabled: args.semantic },
    }),
  );
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, REDIS_URL: redisUrl };
  const gateways: Service[] = [];
  try {
    for (let i = 0; i < instances; i++) {
      const port = await freePort();
      gateways.push(
        await startService({
          name: `gateway ${i + 1}`,
          port,
          nodeArgs: [CLI, 'serve', '--config', configFile, '--port', String(port), '--host', LOOPBACK],
          env: { ...env, SLUICE_DATA_DIR: join(work, `data-${i}`) },
          cwd: ROOT,
          startTimeoutMs: 60_000,
          hint: 'Run `npm run build` first.',
        }),
      );
    }
    const salt = `${Date.now().toString(36)}-${instances}`;
    const draw = rng(12 + instances);
    const dispatcher = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
    const results: Result[] = [];
    const start = performance.now();
    const endAt = start + durationS * 1000;
    let seq = 0;

    const rssStart = gateways.map((g) => procSample(g.pid)?.rssMiB ?? Number.NaN);
    const cpuStart = gateways.map((g) => procSample(g.pid)?.cpuS ?? 0);
    const upstreamCpuStart = procSample(upstream.pid)?.cpuS ?? 0;
    const intervals: Interval[] = [];
    let lastCpu = [...cpuStart];
    let lastLoadgen = process.cpuUsage();
    let lastAt = start;
    let lastIndex = 0;
    const sample = () => {
      const now = performance.now();
      const slice = results.slice(lastIndex);
      lastIndex = results.length;
      const seconds = (now - lastAt) / 1000;
      const procs = gateways.map((g) => procSample(g.pid));
      const cpu = procs.map((p) => p?.cpuS ?? 0);
      const loadgen = process.cpuUsage();
      const loadgenS = (loadgen.user + loadgen.system - lastLoadgen.user - lastLoadgen.system) / 1e6;
      const lat = summarise(slice.map((r) => r.ms));
      const interval: Interval = {
        t: Math.round((now - start) / 1000),
        reqPerS: slice.length / seconds,
        p50: lat.p50,
        p99: lat.p99,
        errors: slice.filter((r) => r.outcome !== 'ok').length,
        rssMiB: procs.map((p) => p?.rssMiB ?? Number.NaN),
        cpuPct: cpu.map((c, i) => ((c - lastCpu[i]) / seconds) * 100),
        loadgenCpuPct: (loadgenS / seconds) * 100,
      };
      intervals.push(interval);
      lastCpu = cpu;
      lastLoadgen = loadgen;
      lastAt = now;
      progress(
        `  [${instances}×] t=${String(interval.t).padStart(3)}s  ${fmt(interval.reqPerS, 0).padStart(5)} req/s  ` +
          `p50 ${fmt(interval.p50)} ms  p99 ${fmt(interval.p99)} ms  non-ok ${interval.errors}  ` +
          `RSS ${interval.rssMiB.map((m) => fmt(m, 0)).join('/')} MiB  CPU ${interval.cpuPct.map((c) => fmt(c, 0)).join('/')} %  ` +
          `load generator ${fmt(interval.loadgenCpuPct, 0)} %`,
      );
    };
    const timer = setInterval(sample, sampleEveryS * 1000);

    const worker = async () => {
      while (performance.now() < endAt) {
        const n = seq++;
        const gateway = gateways[n % gateways.length];
        const result = await send(gateway.url, pickKind(draw()), n, salt, draw, dispatcher);
        results.push({ ...result, at: performance.now() });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    clearInterval(timer);
    if (performance.now() - lastAt > 1_000) sample();
    const elapsedS = (performance.now() - start) / 1000;
    await dispatcher.close();

    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    const info = await redis.info('memory');
    redis.disconnect();
    const redisUsedMiB = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN) / 2 ** 20;

    const outcomesByKind: Record<string, Record<string, number>> = {};
    const cache: Record<string, number> = {};
    const byKind = new Map<string, number[]>();
    for (const r of results) {
      outcomesByKind[r.kind] ??= {};
      outcomesByKind[r.kind][r.outcome] = (outcomesByKind[r.kind][r.outcome] ?? 0) + 1;
      cache[r.cache] = (cache[r.cache] ?? 0) + 1;
      const list = byKind.get(r.kind) ?? [];
      list.push(r.ms);
      byKind.set(r.kind, list);
    }
    const all = summarise(results.map((r) => r.ms));
    const ok = results.filter((r) => r.outcome === 'ok').length;
    // A dropped stream must end in an error event and a persistent 500 in a 5xx: those are the
    // answers the faults call for. Anything else that is not ok is unexpected.
    const expected = (r: Result) =>
      (r.kind === '500 always' && r.outcome.startsWith('http 5')) ||
      (r.kind === 'dropped mid-stream' && r.outcome === 'stream error event');
    return {
      instances,
      durationS: elapsedS,
      requests: results.length,
      reqPerS: results.length / elapsedS,
      okPerS: ok / elapsedS,
      latency: { p50: all.p50, p90: all.p90, p99: all.p99, max: all.max },
      latencyByKind: Object.fromEntries(
        [...byKind].map(([k, v]) => {
          const s = summarise(v);
          return [k, { count: s.count, p50: s.p50, p99: s.p99 }];
        }),
      ),
      cache,
      outcomesByKind,
      unexpectedErrors: results.filter((r) => r.outcome !== 'ok' && !expected(r)).length,
      intervals,
      rssStartMiB: rssStart,
      rssEndMiB: gateways.map((g) => procSample(g.pid)?.rssMiB ?? Number.NaN),
      gatewayCpuS: gateways.map((g, i) => (procSample(g.pid)?.cpuS ?? 0) - cpuStart[i]),
      upstreamCpuS: (procSample(upstream.pid)?.cpuS ?? 0) - upstreamCpuStart,
      redisUsedMiB,
    };
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    rmSync(work, { recursive: true, force: true });
  }
}

function progress(line: string): void {
  if (!args.json) process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
}

function summaryTable(reports: PhaseReport[]): string {
  const base = reports[0];
  const rows = reports.map((r) => {
    const hits = (r.cache.exact ?? 0) + (r.cache.semantic ?? 0);
    const scale = r === base ? '1.00×' : `${fmt(r.reqPerS / base.reqPerS, 2)}×`;
    return (
      `| ${r.instances} | ${r.requests.toLocaleString('en')} | ${fmt(r.reqPerS, 0)} | ${scale} | ${fmt(r.okPerS, 0)} | ` +
      `${fmt(r.latency.p50)} | ${fmt(r.latency.p90)} | ${fmt(r.latency.p99)} | ${fmt(r.latency.max, 0)} | ` +
      `${fmt((hits / r.requests) * 100, 0)} % | ${r.unexpectedErrors} | ` +
      `${r.rssStartMiB.map((m, i) => `${fmt(m, 0)}→${fmt(r.rssEndMiB[i], 0)}`).join(', ')} | ` +
      `${r.gatewayCpuS.map((c) => fmt((c / r.durationS) * 100, 0)).join(', ')} | ${fmt((r.upstreamCpuS / r.durationS) * 100, 0)} | ${fmt(r.redisUsedMiB)} |`
    );
  });
  return [
    '| instances | requests | req/s | vs 1 | ok req/s | p50 ms | p90 ms | p99 ms | max ms | cache hits | unexpected errors | gateway RSS MiB start→end | gateway CPU % (avg) | upstream CPU % | Redis MiB |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|--:|',
    ...rows,
  ].join('\n');
}

function outcomesTable(r: PhaseReport): string {
  const lines = [
    '| request kind | injected | count | p50 ms | p99 ms | outcomes |',
    '|---|---|--:|--:|--:|---|',
  ];
  for (const k of KINDS) {
    const outcomes = r.outcomesByKind[k.name] ?? {};
    const lat = r.latencyByKind[k.name];
    const text = Object.entries(outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([o, n]) => `${o}: ${n.toLocaleString('en')}`)
      .join('; ');
    lines.push(
      `| ${k.name} | ${k.injected ?? ''} | ${(lat?.count ?? 0).toLocaleString('en')} | ${fmt(lat?.p50 ?? Number.NaN)} | ${fmt(lat?.p99 ?? Number.NaN)} | ${text} |`,
    );
  }
  return lines.join('\n');
}

function timelineTable(r: PhaseReport): string {
  const lines = [
    '| t s | req/s | p50 ms | p99 ms | non-ok | RSS MiB per gateway | CPU % per gateway | load generator CPU % |',
    '|--:|--:|--:|--:|--:|---|---|--:|',
  ];
  for (const i of r.intervals) {
    lines.push(
      `| ${i.t} | ${fmt(i.reqPerS, 0)} | ${fmt(i.p50)} | ${fmt(i.p99)} | ${i.errors} | ${i.rssMiB.map((m) => fmt(m, 0)).join(' / ')} | ${i.cpuPct.map((c) => fmt(c, 0)).join(' / ')} | ${fmt(i.loadgenCpuPct, 0)} |`,
    );
  }
  return lines.join('\n');
}

if (!existsSync(CLI)) {
  console.error(`${CLI} is missing: run \`npm run build\` first (the gateways run as separate processes).`);
  process.exit(1);
}

const machine = machineInfo();
const busy = await busyShare();
const redisProcess: RedisProcess | undefined = args['redis-url'] ? undefined : await startRedisProcess();
const redisUrl = args['redis-url'] ?? (redisProcess as RedisProcess).url;
const upstreamPort = await freePort();
const upstream = await startService({
  name: 'simulated upstream',
  port: upstreamPort,
  nodeArgs: [
    CLI,
    'mock-upstream',
    '--port',
    String(upstreamPort),
    '--host',
    LOOPBACK,
    '--latency-ms',
    String(upstreamLatencyMs),
    '--token-delay-ms',
    String(tokenDelayMs),
  ],
  cwd: ROOT,
});
progress(
  `soak: ${durationS} s per phase, instances ${phases.join(' then ')}, ${concurrency} workers, upstream ${upstreamLatencyMs} ms + ${tokenDelayMs} ms/token, ` +
    `semantic ${args.semantic ? 'on' : 'off'}, Redis ${redisUrl}\n  ${describeMachine(machine)}; CPUs busy before start: ${busy === undefined ? '?' : `${Math.round(busy * 100)} %`}`,
);
const reports: PhaseReport[] = [];
try {
  for (const n of phases) {
    progress(`phase: ${n} gateway instance${n > 1 ? 's' : ''}`);
    reports.push(await runPhase(n, redisUrl, upstream.url, upstream));
  }
} finally {
  await upstream.stop();
  await redisProcess?.dispose();
}

const settings =
  `${durationS} s per phase, ${concurrency} closed-loop workers round-robin over the instances, simulated upstream ${upstreamLatencyMs} ms to first byte + ${tokenDelayMs} ms per streamed token ` +
  `(its own process), one \`redis-server\`, semantic cache ${args.semantic ? 'on' : 'off'}; ${hotPrompts} hot prompts. ` +
  `Machine: ${describeMachine(machine)}; CPUs busy before the run: ${busy === undefined ? 'unknown' : `${Math.round(busy * 100)} %`}. ` +
  `${describeRevision(gitRevision(ROOT))}.`;
const markdown = [
  '### Soak: one vs three instances on one Redis (`npm run bench:soak`)',
  '',
  settings,
  '',
  summaryTable(reports),
  '',
  ...reports.flatMap((r) => [
    `#### ${r.instances} instance${r.instances > 1 ? 's' : ''}: outcomes by request kind`,
    '',
    outcomesTable(r),
    '',
    `Every ${sampleEveryS} s:`,
    '',
    timelineTable(r),
    '',
  ]),
].join('\n');

if (args.json) process.stdout.write(`${JSON.stringify({ machine, busy, settings, reports }, null, 2)}\n`);
else process.stdout.write(`\n${markdown}\n`);
if (!args['no-md']) {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `soak-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
  writeFileSync(file, JSON.stringify({ machine, busy, settings, reports }, null, 2));
  writeSection(join(ROOT, 'BENCHMARKS.md'), 'soak', markdown);
  progress(`wrote ${file} and the 'soak' section of BENCHMARKS.md`);
}
