/**
 * Redis outage probe: three in-process gateways share one `redis-server` of this script's own
 * (127.0.0.1, free port, deleted afterwards). Requests go out on a clock from three users —
 * `plain` (no limit or budget), `budgeted` (a daily budget) and `limited` (RPM limit) — spread
 * over the gateways; Redis is stopped a third of the way in and started again at two thirds
 * (or, with `--mode stall`, SIGSTOPped for that long). Then it counts:
 *  - statuses per user (500s should be none);
 *  - over-admission: `limited` requests answered 200 beyond its RPM limit;
 *  - ledger rows missing or doubled: answered requests (by x-request-id) against the rows in
 *    Redis once the gateways have flushed and replayed their spools;
 *  - the slowest answer (a stalled Redis must not stall requests).
 *
 *   node --import tsx bench/redis-outage.ts [--requests 180] [--duration 6] [--rpm 30] [--mode stop|stall] [--json]
 */
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { type RunningSluice, simulatedUpstreams, startSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import { startRedisProcess } from '../test/redis-process.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '180' },
    duration: { type: 'string', default: '6' },
    rpm: { type: 'string', default: '30' },
    mode: { type: 'string', default: 'stop' },
    'replay-wait': { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  },
});
const total = Math.min(2_000, Number(args.requests));
const durationMs = Math.min(60, Number(args.duration)) * 1000;
const rpm = Number(args.rpm);
const users = ['plain', 'budgeted', 'limited'] as const;

const redis = await startRedisProcess();
const mock = await startMockUpstream({});
const gateways: RunningSluice[] = [];
const dataDirs = [0, 1, 2].map((i) => `/tmp/sluice-outage-${process.pid}-${i}`);
try {
  for (let i = 0; i < 3; i++) {
    const config = validateConfig({
      port: 0,
      host: '127.0.0.1',
      logLevel: 'silent',
      dataDir: dataDirs[i],
      redisUrl: redis.url,
      upstreams: simulatedUpstreams(mock.url),
      cost: { budgets: { users: { budgeted: { dailyUsd: 100 } } } },
      flow: { rateLimits: [{ scope: 'user', match: 'limited', rpm }] },
    });
    gateways.push(await startSluice({ config }));
  }

  const statuses: Record<string, Record<number, number>> = { plain: {}, budgeted: {}, limited: {} };
  const answered: string[] = [];
  let slowestMs = 0;
  const send = async (n: number) => {
    const user = users[n % users.length];
    const gw = gateways[Math.floor(n / users.length) % gateways.length];
    const started = Date.now();
    let status = 0;
    try {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sluice-user': user },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `outage probe ${n} ${n % 7}` }],
          temperature: 0,
        }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      status = res.status;
      const id = res.headers.get('x-request-id');
      if (id) answered.push(id);
    } catch {
      status = -1; // no answer at all
    }
    slowestMs = Math.max(slowestMs, Date.now() - started);
    statuses[user][status] = (statuses[user][status] ?? 0) + 1;
  };

  // Keep the whole run inside one minute: the RPM limit is per (sliding) minute window.
  const intoMinute = Date.now() % 60_000;
  if (intoMinute + durationMs + 2_000 > 60_000) await sleep(60_000 - intoMinute + 200);
  const t0 = Date.now();
  const outageAt = durationMs / 3;
  const backAt = (2 * durationMs) / 3;
  const outage = (async () => {
    await sleep(outageAt);
    if (args.mode === 'stall') redis.pause();
    else await redis.stop();
    await sleep(backAt - (Date.now() - t0));
    if (args.mode === 'stall') redis.resume();
    else await redis.start();
  })();
  const inFlight: Promise<void>[] = [];
  for (let n = 0; n < total; n++) {
    await sleep(t0 + (n * durationMs) / total - Date.now());
    inFlight.push(send(n));
  }
  await Promise.all(inFlight);
  await outage;
  await sleep(Number(args['replay-wait']) * 1000);
  // `store` exists only where the gateway reports store health (not on older code).
  const storeStats = gateways.map((gw) => (gw.gateway.stats() as { store?: unknown }).store ?? null);
  for (const gw of gateways.splice(0)) await gw.close();

  const client = new Redis(redis.url);
  const members = await client.zrange('sluice:ledger:usage', '0', '-1');
  client.disconnect();
  const rowIds = members.map(
    (m) => (JSON.parse(m.slice(m.indexOf('\n') + 1)) as { requestId: string }).requestId,
  );
  const rowCount = new Map<string, number>();
  for (const id of rowIds) rowCount.set(id, (rowCount.get(id) ?? 0) + 1);
  const missing = answered.filter((id) => !rowCount.has(id)).length;
  const doubled = [...rowCount.values()].filter((n) => n > 1).length;
  const count = (status: number) => users.reduce((sum, u) => sum + (statuses[u][status] ?? 0), 0);
  const result = {
    mode: args.mode,
    requests: total,
    rpmLimit: rpm,
    statuses,
    errors500: count(500),
    noAnswer: count(-1),
    limitedAdmitted: statuses.limited[200] ?? 0,
    overAdmitted: Math.max(0, (statuses.limited[200] ?? 0) - rpm),
    answered: answered.length,
    ledgerRows: rowIds.length,
    ledgerMissing: missing,
    ledgerDoubled: doubled,
    slowestMs,
    storeStats,
  };
  if (args.json) console.log(JSON.stringify(result));
  else console.log(result);
} finally {
  for (const gw of gateways) await gw.close().catch(() => {});
  await mock.close();
  await redis.dispose();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
