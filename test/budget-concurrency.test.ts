/**
 * Budgets hold under concurrency on every storage backend: N requests in parallel can never
 * spend past a limit, because each reserves its maximum cost atomically before dispatch.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Budgets } from '../src/cost/budget.js';
import { budgetStage } from '../src/cost/budget-stage.js';
import { costConfigSchema } from '../src/cost/config.js';
import { PriceBook } from '../src/cost/prices.js';
import { isSluiceError } from '../src/errors.js';
import { compose } from '../src/pipeline/compose.js';
import { type Backend, openBackend } from '../src/store/index.js';
import { countChatTokens } from '../src/tokens/count.js';
import { chatCtx, jsonUpstream } from './cost-helpers.js';
import { startTestRedis, type TestRedis } from './store-redis-server.js';

// gpt-4o-mini list prices, USD per million tokens.
const IN = 0.15;
const OUT = 0.6;
const MAX_TOKENS = 500;
const messages = [{ role: 'user', content: 'Write one sentence about rivers.' }];
const PROMPT = countChatTokens('openai', { model: 'gpt-4o-mini', messages }).tokens;
/** The most one request can cost: the reservation. */
const RESERVE_USD = (PROMPT * IN + MAX_TOKENS * OUT) / 1e6;

interface Harness {
  name: string;
  open(): Promise<Backend>;
  cleanup?(): Promise<void>;
}

const dirs: string[] = [];
let redis: TestRedis | undefined;

const harnesses: Harness[] = [
  { name: 'memory', open: () => openBackend({ dataDir: '', memory: true }) },
  {
    name: 'sqlite',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-budget-'));
      dirs.push(dir);
      return openBackend({ dataDir: dir });
    },
  },
  {
    name: 'redis',
    open: async () => {
      if (!redis || 'skip' in redis) throw new Error('no redis');
      return openBackend({
        dataDir: '',
        redisUrl: redis.url,
        redisKeyPrefix: `sluice-test-${process.pid}-${Math.random()}:`,
      });
    },
  },
];

before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  if (redis && !('skip' in redis)) await redis.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function runParallel(backend: Backend, n: number, room: number, actual: (i: number) => number) {
  const config = costConfigSchema.parse({
    budgets: { users: { alice: { dailyUsd: RESERVE_USD * (room + 0.5) } } },
  });
  const budgets = new Budgets(backend.counters, config.budgets);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let i = 0;
  const upstream = jsonUpstream(
    () => ({ inputTokens: PROMPT, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: actual(i++) }),
    { gate },
  );
  const handler = compose([budgetStage({ budgets, prices: new PriceBook() }), upstream]);
  const results = Array.from({ length: n }, () =>
    handler(chatCtx({ messages, maxTokens: MAX_TOKENS })).then(
      () => 'ok' as const,
      (e: unknown) => {
        if (isSluiceError(e) && e.code === 'budget_exceeded') return 'refused' as const;
        throw e;
      },
    ),
  );
  // Every request that got through is held at the gate until all have been decided.
  await new Promise((r) => setTimeout(r, 50));
  release();
  const outcomes = await Promise.all(results);
  await budgets.idle();
  const [spent] = await backend.counters.get(budgets.scopesFor({ user: 'alice' }).map((s) => s.counterKey));
  return {
    outcomes,
    spentNano: spent,
    limitNano: budgets.scopesFor({ user: 'alice' })[0].limitNano,
    upstreamCalls: upstream.calls,
  };
}

for (const h of harnesses) {
  describe(`budgets under concurrency (${h.name})`, () => {
    let backend: Backend | undefined;
    before(async () => {
      if (h.name === 'redis' && redis && 'skip' in redis) return;
      backend = await h.open();
    });
    after(async () => {
      await backend?.close();
    });

    it('50 parallel requests with room for 10: exactly 10 go upstream, none overshoots', async (t) => {
      if (!backend) return t.skip(redis && 'skip' in redis ? redis.skip : 'backend unavailable');
      const r = await runParallel(backend, 50, 10, () => MAX_TOKENS);
      assert.equal(r.outcomes.filter((o) => o === 'ok').length, 10);
      assert.equal(r.outcomes.filter((o) => o === 'refused').length, 40);
      assert.equal(r.upstreamCalls, 10, 'refused requests never reach the upstream');
      assert.ok(r.spentNano <= r.limitNano, `spent ${r.spentNano} > limit ${r.limitNano}`);
    });

    it('settles to the actual cost: cheaper answers free room for later requests, still without overshoot', async (t) => {
      if (!backend) return t.skip(redis && 'skip' in redis ? redis.skip : 'backend unavailable');
      const config = costConfigSchema.parse({ budgets: { users: { bob: { dailyUsd: RESERVE_USD * 5.5 } } } });
      const budgets = new Budgets(backend.counters, config.budgets);
      const upstream = jsonUpstream({
        inputTokens: PROMPT,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: 100,
      });
      const handler = compose([budgetStage({ budgets, prices: new PriceBook() }), upstream]);
      let ok = 0;
      for (let wave = 0; wave < 50; wave++) {
        const out = await Promise.allSettled(
          Array.from({ length: 20 }, () =>
            handler(chatCtx({ caller: { user: 'bob' }, messages, maxTokens: MAX_TOKENS })),
          ),
        );
        await budgets.idle();
        const served = out.filter((o) => o.status === 'fulfilled').length;
        ok += served;
        const [spent] = await backend.counters.get(
          budgets.scopesFor({ user: 'bob' }).map((s) => s.counterKey),
        );
        assert.ok(spent <= budgets.scopesFor({ user: 'bob' })[0].limitNano, 'never above the limit');
        if (served === 0) break;
      }
      const actualUsd = (PROMPT * IN + 100 * OUT) / 1e6;
      // Everything that fits was served: the spend cannot take one more worst-case reservation.
      const [spent] = await backend.counters.get(budgets.scopesFor({ user: 'bob' }).map((s) => s.counterKey));
      assert.equal(spent, ok * Math.round(actualUsd * 1e9));
      assert.ok(spent + Math.ceil(RESERVE_USD * 1e9) > budgets.scopesFor({ user: 'bob' })[0].limitNano);
      assert.ok(ok > 5, 'settling to the actual cost let more than the worst-case count through');
    });
  });
}
