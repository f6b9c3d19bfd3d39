/**
 * `npm run bench:overload`: offer FACTOR x the configured capacity for DURATION seconds to the
 * gateway in front of the simulated upstream (all on 127.0.0.1) with an open-loop load
 * generator (requests go out on a clock, whether or not earlier ones were answered), then check:
 *  - every request got an answer: 200, or 429 (`queue_full`, with Retry-After) / 504
 *    (`queue_timeout`, `upstream_timeout`) with a reason; none lost, none hanging past its deadline;
 *  - memory stays flat (the gateway's heap after GC, sampled every second);
 *  - admitted requests' p99 latency stays within the request deadline;
 *  - high-priority requests (x-sluice-priority: high) wait at most 1/5 as long as low ones.
 *
 * Capacity = maxConcurrency x 1000 / upstream latency (requests per second). The gateway and
 * the simulated upstream run in a child process (with --expose-gc), the load generator here,
 * so they do not share an event loop.
 *   node --import tsx bench/overload.ts [--preset default|deadline] [--duration 30] [--factor 10] [--json]
 *
 * `--preset deadline` is issue 8's setup and adds the goodput check: answered 200s must reach
 * `--min-goodput` (0.8) of capacity x duration; it also reports upstream calls started,
 * completed and aborted (counted at the simulated upstream).
 *
 * `--wire self` puts the flow stages (shutdown + queue, config key `flow`) in front of the
 * gateway's pipeline from this script; `--wire gateway` relies on the Gateway's own wiring;
 * `auto` (default) picks `gateway` when the Gateway object has a `flow` member.
 */
import { fork } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    /** A named setup (see PRESETS); explicit flags override its values. */
    preset: { type: 'string', default: 'default' },
    duration: { type: 'string' },
    factor: { type: 'string' },
    concurrency: { type: 'string' },
    'latency-ms': { type: 'string' },
    'max-queue': { type: 'string' },
    'deadline-ms': { type: 'string' },
    // High-priority share of the offered load; keep share x factor < 1 so high requests alone
    // do not fill the capacity (then they would just queue behind each other).
    'high-share': { type: 'string' },
    users: { type: 'string' },
    /** Fail the run when answered 200s fall below this share of the upstream's capacity. */
    'min-goodput': { type: 'string' },
    json: { type: 'boolean', default: false },
    wire: { type: 'string', default: 'auto' },
    /** Write a CPU profile of the gateway process into this directory. */
    'profile-dir': { type: 'string' },
  },
});
/**
 * `default`: a short queue and deadline (shedding, memory, priority checks).
 * `deadline`: issue 8's 10x overload (4 slots, 500 ms upstream, 80 req/s, 10 s deadlines, a
 * queue long enough to hold far more than a deadline's worth of work), where goodput is the
 * question: how many answers the upstream's capacity turned into.
 */
const PRESETS = {
  default: {
    duration: 30,
    factor: 10,
    concurrency: 8,
    'latency-ms': 200,
    'max-queue': 40,
    'deadline-ms': 3000,
    'high-share': 0.03,
    users: 20,
    'min-goodput': 0,
  },
  deadline: {
    duration: 30,
    factor: 10,
    concurrency: 4,
    'latency-ms': 500,
    'max-queue': 1000,
    'deadline-ms': 10_000,
    'high-share': 0.03,
    users: 20,
    'min-goodput': 0.8,
  },
} as const;
if (!Object.hasOwn(PRESETS, args.preset)) throw new Error(`unknown --preset ${args.preset}`);
const preset = PRESETS[args.preset as keyof typeof PRESETS];
const setting = (name: keyof typeof preset) => Number(args[name] ?? preset[name]);
const settings = {
  durationS: setting('duration'),
  factor: setting('factor'),
  maxConcurrency: setting('concurrency'),
  latencyMs: setting('latency-ms'),
  maxQueue: setting('max-queue'),
  deadlineMs: setting('deadline-ms'),
  highShare: setting('high-share'),
  users: setting('users'),
  minGoodput: setting('min-goodput'),
};
type Settings = typeof settings;

/** Messages between the driver and the gateway child. */
type ChildMessage = { ready: string } | { report: ServerReport };
interface ServerReport {
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** Gateway process CPU (with the simulated upstream and GC sampling) per request handled. */
  cpuMsPerRequest: number;
  heapMb: number[];
  insideGatewayMs: { p50: number; p99: number };
  /** Only measured while this script wires the flow stages itself (0 otherwise). */
  upstreamCallMs: { p50: number; p99: number };
  /** Median time admitted requests waited in the queue, measured in the gateway, by priority. */
  medianQueueWaitMs: Record<string, number>;
  /** Chat calls that reached the simulated upstream, and those it answered in full. */
  upstreamCalls: { started: number; completed: number };
  flowStats: unknown;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const round = (x: number) => Math.round(x * 10) / 10;

if (args.serve) await serve(settings);
else await drive(settings);

/** The child: simulated upstream + gateway with flow control, reporting over IPC. */
async function serve(s: Settings): Promise<void> {
  const { simulatedUpstreams, startSluice } = await import('../src/app.js');
  const { configSchema } = await import('../src/config/index.js');
  const { flowConfigSchema } = await import('../src/flow/config.js');
  const { createFlowControl } = await import('../src/flow/index.js');
  const { startMockUpstream } = await import('../src/mock/index.js');
  const { compose } = await import('../src/pipeline/compose.js');
  const { MemoryCounterStore } = await import('../src/store/memory.js');
  type Ctx = import('../src/pipeline/types.js').RequestContext;
  type Reply = import('../src/pipeline/types.js').Reply;

  const mock = await startMockUpstream({ latencyMs: s.latencyMs, receivedLimit: 0 });
  const flowSettings = {
    defaults: { maxConcurrency: s.maxConcurrency, maxQueue: s.maxQueue },
    aimd: { enabled: false },
  };
  const config = configSchema.parse({
    port: 0,
    logLevel: 'error',
    requestTimeoutMs: s.deadlineMs,
    upstreams: simulatedUpstreams(mock.url),
    flow: flowSettings,
  });
  const sluice = await startSluice({ config });
  const gatewayMs: number[] = [];
  const upstreamMs: number[] = [];
  const queueWaitMs: Record<string, number[]> = { high: [], normal: [], low: [] };
  let flowStats: () => unknown = () => undefined;
  let pipeline: (ctx: Ctx) => Promise<Reply> = sluice.gateway.handle.bind(sluice.gateway);
  // `--wire gateway` (or a Gateway exposing `flow`) uses the gateway's own flow stages.
  const selfWire = args.wire === 'self' || (args.wire === 'auto' && !('flow' in sluice.gateway));
  if (selfWire) {
    // Flow control not wired into the Gateway yet: put shutdown + queue in front of it here.
    const flow = createFlowControl(flowConfigSchema.parse(flowSettings), {
      store: new MemoryCounterStore(),
      upstreamOf: () => 'simulated-openai',
    });
    const inner = pipeline;
    const timedUpstream = async (ctx: Ctx) => {
      const t0 = performance.now();
      const reply = await inner(ctx);
      upstreamMs.push(performance.now() - t0);
      return reply;
    };
    pipeline = compose([flow.shutdownStage, flow.queueStage, timedUpstream]);
    flowStats = flow.stats;
  }
  const outer = pipeline;
  sluice.gateway.handle = async (ctx) => {
    handled++;
    const reply = await outer(ctx);
    if (reply.status < 300) {
      gatewayMs.push(Date.now() - ctx.startedAt);
      queueWaitMs[ctx.priority].push(ctx.queueWaitMs ?? 0);
    }
    return reply;
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap: number[] = [];
  const cpuAtStart = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  let handled = 0;
  const sampler = setInterval(() => {
    gc?.();
    heap.push(process.memoryUsage().heapUsed / 1024 / 1024);
  }, 1000);
  process.on('message', async (message) => {
    if (message !== 'report') return;
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpuAtStart);
    const report: ServerReport = {
      eventLoopDelayMs: {
        p50: Math.round(loopDelay.percentile(50) / 1e6),
        p99: Math.round(loopDelay.percentile(99) / 1e6),
        max: Math.round(loopDelay.max / 1e6),
      },
      cpuMsPerRequest: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, handled)) * 1000) / 1000,
      heapMb: heap.map(round),
      insideGatewayMs: { p50: Math.round(pct(gatewayMs, 50)), p99: Math.round(pct(gatewayMs, 99)) },
      upstreamCallMs: { p50: Math.round(pct(upstreamMs, 50)), p99: Math.round(pct(upstreamMs, 99)) },
      medianQueueWaitMs: { high: pct(queueWaitMs.high, 50), low: pct(queueWaitMs.low, 50) },
      upstreamCalls: { started: mock.counts().attempts, completed: mock.counts().total },
      flowStats: flowStats(),
    };
    process.send?.({ report } satisfies ChildMessage);
    await sluice.close();
    await mock.close();
    process.disconnect();
  });
  process.send?.({ ready: sluice.url } satisfies ChildMessage);
}

/** The parent: open-loop load, tally, checks. */
async function drive(s: Settings): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const capacityRps = (s.maxConcurrency * 1000) / s.latencyMs;
  const offeredRps = capacityRps * s.factor;
  /** A request not answered this long after its deadline counts as hanging. */
  const HANG_MARGIN_MS = 5000;

  const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--serve'], {
    execArgv: [
      '--expose-gc',
      '--import',
      'tsx',
      ...(args['profile-dir'] ? ['--cpu-prof', '--cpu-prof-dir', args['profile-dir']] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: ChildMessage[] = [];
  let wake: (() => void) | undefined;
  child.on('message', (m) => {
    messages.push(m as ChildMessage);
    wake?.();
  });
  const nextMessage = async (): Promise<ChildMessage> => {
    while (messages.length === 0) await new Promise<void>((r) => (wake = r));
    return messages.shift()!;
  };
  const ready = await nextMessage();
  if (!('ready' in ready)) throw new Error('gateway child did not start');

  const tally = {
    sent: 0,
    answered: 0,
    hung: 0,
    clientErrors: 0,
    byStatus: {} as Record<string, number>,
    byReason: {} as Record<string, number>,
    okLatency: { high: [] as number[], low: [] as number[] },
  };
  const pool = new Pool(ready.ready, { connections: 1024, pipelining: 1 });
  const reasonOf = (text: string) => {
    try {
      return (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? 'no-code';
    } catch {
      return 'not-json';
    }
  };
  const fire = async (i: number) => {
    const priority = (i * 7919) % 1000 < s.highShare * 1000 ? 'high' : 'low';
    const started = performance.now();
    tally.sent++;
    try {
      const res = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          'x-sluice-priority': priority,
          'x-sluice-user': `user-${i % s.users}`,
        },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `question ${i}` }],
        }),
        signal: AbortSignal.timeout(s.deadlineMs + HANG_MARGIN_MS),
      });
      const text = await res.body.text();
      tally.answered++;
      tally.byStatus[res.statusCode] = (tally.byStatus[res.statusCode] ?? 0) + 1;
      if (res.statusCode === 200) tally.okLatency[priority].push(performance.now() - started);
      else {
        const retryAfter =
          res.statusCode === 429 && res.headers['retry-after'] !== undefined ? '+retry-after' : '';
        const key = `${res.statusCode} ${reasonOf(text)}${retryAfter}`;
        tally.byReason[key] = (tally.byReason[key] ?? 0) + 1;
      }
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') tally.hung++;
      else tally.clientErrors++;
    }
  };

  log(
    `overload: capacity ${capacityRps} req/s (${s.maxConcurrency} slots x ${s.latencyMs} ms), offering ` +
      `${offeredRps} req/s for ${s.durationS} s; queue ${s.maxQueue}, deadline ${s.deadlineMs} ms`,
  );
  const poolPeak = { connected: 0, queued: 0, running: 0 };
  const poolProbe = setInterval(() => {
    const st = pool.stats;
    poolPeak.connected = Math.max(poolPeak.connected, st.connected);
    poolPeak.queued = Math.max(poolPeak.queued, st.queued);
    poolPeak.running = Math.max(poolPeak.running, st.running);
  }, 50);
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const inFlight = new Set<Promise<void>>();
  const startedAt = performance.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - startedAt;
      if (elapsed >= s.durationS * 1000) {
        clearInterval(tick);
        resolve();
        return;
      }
      const due = Math.floor((elapsed / 1000) * offeredRps);
      while (i < due) {
        const p = fire(i++);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
    }, 5);
  });
  await Promise.all(inFlight);
  const lastAnswerS = (performance.now() - startedAt) / 1000;
  loopDelay.disable();
  clearInterval(poolProbe);
  child.send('report');
  const reportMessage = await nextMessage();
  if (!('report' in reportMessage)) throw new Error('no report from the gateway child');
  const server = reportMessage.report;
  await pool.close();

  const allOk = [...tally.okLatency.high, ...tally.okLatency.low];
  const lost = tally.sent - tally.answered - tally.hung - tally.clientErrors;
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const heapEarly = avg(server.heapMb.slice(2, 7));
  const heapLate = avg(server.heapMb.slice(-5));
  const ok = tally.byStatus[200] ?? 0;
  const calls = server.upstreamCalls;
  const result = {
    settings: { ...s, capacityRps, offeredRps },
    /**
     * Answered 200s per request the upstream could have served while load was offered
     * (capacity x duration); `overWholeRun` also counts the drain after the offer stopped.
     */
    goodput: {
      answered200: ok,
      capacityOverDuration: capacityRps * s.durationS,
      ofCapacity: Math.round((ok / (capacityRps * s.durationS)) * 1000) / 1000,
      overWholeRun: Math.round((ok / (capacityRps * lastAnswerS)) * 1000) / 1000,
      runSeconds: round(lastAnswerS),
    },
    upstreamCalls: { ...calls, aborted: calls.started - calls.completed },
    sent: tally.sent,
    answered: tally.answered,
    lost,
    hung: tally.hung,
    clientErrors: tally.clientErrors,
    byStatus: tally.byStatus,
    byReason: tally.byReason,
    admittedRps: round(allOk.length / s.durationS),
    admittedLatencyMs: {
      p50: Math.round(pct(allOk, 50)),
      p99: Math.round(pct(allOk, 99)),
      max: Math.round(pct(allOk, 100)),
    },
    gatewayCpuMsPerRequest: server.cpuMsPerRequest,
    gatewayEventLoopDelayMs: server.eventLoopDelayMs,
    insideGatewayMs: server.insideGatewayMs,
    upstreamCallMs: server.upstreamCallMs,
    admittedByPriority: { high: tally.okLatency.high.length, low: tally.okLatency.low.length },
    admittedMedianLatencyMs: {
      high: Math.round(pct(tally.okLatency.high, 50)),
      low: Math.round(pct(tally.okLatency.low, 50)),
    },
    medianQueueWaitMs: server.medianQueueWaitMs,
    gatewayHeapMb: { early: round(heapEarly), late: round(heapLate), max: round(Math.max(...server.heapMb)) },
    /** Peaks of the load generator's connection pool (queued > 0: the client itself waited). */
    driverPoolPeak: poolPeak,
    driverEventLoopDelayMs: {
      p50: Math.round(loopDelay.percentile(50) / 1e6),
      p99: Math.round(loopDelay.percentile(99) / 1e6),
    },
  };
  const checks = {
    everyRequestAnswered: lost === 0 && tally.hung === 0 && tally.clientErrors === 0,
    onlyReasonedRefusals: Object.keys(tally.byReason).every((k) =>
      /^(429 queue_full\+retry-after|504 (queue_timeout|upstream_timeout|deadline_unreachable))$/.test(k),
    ),
    goodputReached: result.goodput.ofCapacity >= s.minGoodput,
    p99WithinDeadline: result.admittedLatencyMs.p99 <= s.deadlineMs,
    memoryFlat: heapLate <= heapEarly * 1.25 + 2,
    highWaitsAtMostAFifthOfLow: result.medianQueueWaitMs.high * 5 <= result.medianQueueWaitMs.low,
  };
  if (args.json) console.log(JSON.stringify({ ...result, flowStats: server.flowStats, checks }, null, 2));
  else {
    console.log(JSON.stringify(result, null, 2));
    console.log('checks:', checks);
  }
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
}
