/**
 * Cost of the flow-control queue itself, no network: the target is <= 20 µs per request when
 * not saturated. Measures
 *  - the limiter's fast path (tryAcquire + release),
 *  - the queue stage around a terminal stage that answers at once, minus that stage alone,
 *  - the slow path: a request that waits in the queue and is handed a released slot.
 * Run: node --import tsx bench/flow-queue.ts
 */
import { flowConfigSchema } from '../src/flow/config.js';
import { ConcurrencyLimiter } from '../src/flow/limiter.js';
import { LimiterRegistry } from '../src/flow/limiters.js';
import { queueStage } from '../src/flow/queue-stage.js';
import { createContext } from '../src/pipeline/context.js';
import type { JsonReply, RequestContext } from '../src/pipeline/types.js';

const REPLY: JsonReply = { kind: 'json', status: 200, headers: {}, body: new Uint8Array(2) };
const terminal = async () => REPLY;

function nsPer(n: number, run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / n;
}

async function nsPerAsync(n: number, run: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / n;
}

function fastPath(n: number): number {
  const limiter = new ConcurrencyLimiter({ name: 'bench', maxConcurrency: 64, maxQueue: 1000 });
  return nsPer(n, () => {
    for (let i = 0; i < n; i++) limiter.tryAcquire()!.release();
  });
}

async function stageOverhead(
  n: number,
  contexts: RequestContext[],
): Promise<{ bare: number; staged: number }> {
  const config = flowConfigSchema.parse({});
  const stage = queueStage({ limiters: new LimiterRegistry(config), upstreamOf: () => 'up', config });
  const bare = await nsPerAsync(n, async () => {
    for (let i = 0; i < n; i++) await terminal();
  });
  const staged = await nsPerAsync(n, async () => {
    for (let i = 0; i < n; i++) await stage(contexts[i % contexts.length], terminal);
  });
  return { bare, staged };
}

/** Every request queues (limit 1, a window of 100 in flight) and is dispatched on a release. */
async function slowPath(n: number): Promise<number> {
  const limiter = new ConcurrencyLimiter({ name: 'bench', maxConcurrency: 1, maxQueue: 1000 });
  const deadline = Date.now() + 3_600_000;
  return nsPerAsync(n, async () => {
    const window: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      window.push(
        limiter.acquire({ priority: 'normal', callerId: `c${i % 8}`, deadline }).then((permit) => {
          queueMicrotask(() => permit.release());
        }),
      );
      if (window.length === 100) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
  });
}

const contexts = Array.from({ length: 64 }, () =>
  createContext({
    dialect: 'openai',
    route: 'chat',
    headers: {},
    body: { model: 'm', messages: [] },
    signal: new AbortController().signal,
    timeoutMs: 60_000,
  }),
);

// Warm up the JIT, then measure.
fastPath(200_000);
await stageOverhead(50_000, contexts);
await slowPath(20_000);

const fast = fastPath(2_000_000);
const { bare, staged } = await stageOverhead(500_000, contexts);
const slow = await slowPath(200_000);
const us = (ns: number) => (ns / 1000).toFixed(3);
console.log(`limiter fast path (tryAcquire + release): ${us(fast)} µs/request`);
console.log(
  `queue stage, slot free: ${us(staged - bare)} µs/request (stage ${us(staged)} - bare ${us(bare)})`,
);
console.log(`queued path (enqueue, wait, dispatch, release): ${us(slow)} µs/request`);
