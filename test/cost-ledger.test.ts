import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Budgets } from '../src/cost/budget.js';
import { budgetStage } from '../src/cost/budget-stage.js';
import { costConfigSchema } from '../src/cost/config.js';
import { toNano } from '../src/cost/cost.js';
import { Ledger, type LedgerRow } from '../src/cost/ledger.js';
import { PriceBook } from '../src/cost/prices.js';
import { recordStage } from '../src/cost/record-stage.js';
import { usageQueryFrom, usageReport } from '../src/cost/report.js';
import { SluiceError } from '../src/errors.js';
import { compose } from '../src/pipeline/compose.js';
import type { Stage, StreamReply, Usage } from '../src/pipeline/types.js';
import { type Backend, openBackend } from '../src/store/index.js';
import { MemoryCounterStore, MemoryLedgerStore } from '../src/store/memory.js';
import { chatCtx, drain, json, jsonUpstream, streamUpstream } from './cost-helpers.js';

const prices = new PriceBook();
const u = (input: number, output: number, read = 0, write = 0): Usage => ({
  inputTokens: input,
  cacheReadTokens: read,
  cacheWriteTokens: write,
  outputTokens: output,
});

function recorder() {
  const ledger = new Ledger(new MemoryLedgerStore<LedgerRow>());
  const rows = async () => {
    await ledger.idle();
    return ledger.query({ since: 0 });
  };
  const run = (...stages: Stage[]) => compose([recordStage({ ledger, prices, abortGraceMs: 20 }), ...stages]);
  return { ledger, rows, run };
}

describe('record stage: one ledger row per call', () => {
  it('records tokens by kind, cost and the x-sluice-cost-usd header for a priced call', async () => {
    const r = recorder();
    const ctx = chatCtx({
      caller: { user: 'alice', team: 'labs', keyId: 'vk_1', tier: 'pro' },
      model: 'gpt-4o',
    });
    await r.run(jsonUpstream(u(86, 300, 1920)))(ctx);
    const [row] = await r.rows();
    assert.equal(row.user, 'alice');
    assert.equal(row.team, 'labs');
    assert.equal(row.keyId, 'vk_1');
    assert.equal(row.requestedModel, 'gpt-4o');
    assert.equal(row.model, 'gpt-4o');
    assert.deepEqual(
      [row.inputTokens, row.cacheReadTokens, row.cacheWriteTokens, row.outputTokens],
      [86, 1920, 0, 300],
    );
    assert.equal(row.costUsd, 0.005615);
    assert.equal(row.promptCacheSavedUsd, 0.0024);
    assert.equal(row.status, 200);
    assert.equal(row.outcome, 'ok');
    assert.equal(ctx.responseHeaders['x-sluice-cost-usd'], '0.005615');
  });

  it('records the model that answered, not the alias asked for', async () => {
    const r = recorder();
    const ctx = chatCtx({ model: 'auto' });
    const routed: Stage = async (c, next) => {
      c.model = 'gpt-4o-mini';
      return next();
    };
    await r.run(routed, jsonUpstream(u(10, 10)))(ctx);
    const [row] = await r.rows();
    assert.equal(row.requestedModel, 'auto');
    assert.equal(row.model, 'gpt-4o-mini');
  });

  it('an unknown model is recorded as unpriced (null), never $0', async () => {
    const r = recorder();
    const ctx = chatCtx({ model: 'my-private-llm' });
    await r.run(jsonUpstream(u(100, 50)))(ctx);
    const [row] = await r.rows();
    assert.equal(row.costUsd, null);
    assert.equal(ctx.responseHeaders['x-sluice-cost-usd'], 'unpriced');
    const report = await usageReport(r.ledger, { days: 1 });
    assert.equal(report.totals.unpriced_requests, 1);
    assert.deepEqual(report.unpriced_models, ['my-private-llm']);
  });

  it('records cache hits with the cost they avoided', async () => {
    const r = recorder();
    // As the exact cache stage answers a hit: nothing billed, the stored answer's usage saved.
    const hit: Stage = async (ctx) => {
      ctx.cache = 'exact';
      ctx.usage = u(0, 0);
      ctx.savedUsage = u(1000, 500);
      return json({ choices: [{ message: { content: 'cached' } }] });
    };
    const ctx = chatCtx({ model: 'gpt-4o-mini' });
    await r.run(hit)(ctx);
    const [row] = await r.rows();
    assert.equal(row.cache, 'exact');
    assert.equal(row.costUsd, 0);
    assert.equal(row.inputTokens + row.outputTokens, 0, 'no tokens billed');
    assert.equal(row.costAvoidedUsd, (1000 * 0.15 + 500 * 0.6) / 1e6);
    assert.equal(ctx.responseHeaders['x-sluice-cost-usd'], '0');
    // A single-flight follower shares the leader's answer: nothing billed, marked coalesced.
    const follower: Stage = async (c) => {
      c.flightFollower = true;
      c.usage = u(0, 0);
      return json({ choices: [{ message: { content: 'shared' } }] });
    };
    await r.run(follower)(chatCtx({ model: 'gpt-4o-mini' }));
    const rows = await r.rows();
    assert.equal(rows[1].coalesced, true);
    assert.equal(rows[1].costUsd, 0);
    assert.ok(rows[1].costAvoidedUsd > 0, 'estimated from the prompt when the leader usage is unknown');
  });

  it('records refusals and failures with their status and code', async () => {
    const r = recorder();
    const refuse: Stage = async () => {
      throw new SluiceError('budget_exceeded', 'no money');
    };
    await assert.rejects(r.run(refuse)(chatCtx()));
    await r.run(jsonUpstream(u(1, 1), { status: 503 }))(chatCtx());
    const rows = await r.rows();
    assert.deepEqual(
      rows.map((x) => [x.status, x.outcome, x.errorCode ?? null, x.costUsd]),
      [
        [429, 'error', 'budget_exceeded', 0],
        [503, 'error', null, 0],
      ],
    );
  });

  it('records a stream when it ends, and an aborted stream as 499', async () => {
    const r = recorder();
    const s = streamUpstream(u(20, 30));
    const reply = (await r.run(s.stage)(chatCtx({ stream: true }))) as StreamReply;
    const reading = drain(reply);
    s.push('data: {"choices":[{"delta":{"content":"hi"}}]}\n\n');
    assert.equal((await r.rows()).length, 0, 'nothing recorded mid-stream');
    s.end();
    await reading;
    const [row] = await r.rows();
    assert.equal(row.stream, true);
    assert.equal(row.outputTokens, 30);
    assert.equal(row.costUsd, (20 * 0.15 + 30 * 0.6) / 1e6);

    const aborted = streamUpstream(undefined);
    const reply2 = (await r.run(aborted.stage)(chatCtx({ stream: true }))) as StreamReply;
    const it2 = reply2.chunks[Symbol.asyncIterator]();
    aborted.push('data: {}\n\n');
    await it2.next();
    await it2.return?.();
    const rows = await r.rows();
    assert.equal(rows[1].status, 499);
    assert.equal(rows[1].outcome, 'aborted');
    assert.equal(rows[1].usageEstimated, true);
    assert.ok(rows[1].inputTokens > 0, 'the prompt was billed');
  });

  it('without provider usage, counts locally and flags the row as estimated', async () => {
    const r = recorder();
    await r.run(jsonUpstream(undefined, { text: 'Four words right here.' }))(
      chatCtx({ model: 'gpt-4o-mini' }),
    );
    const [row] = await r.rows();
    assert.equal(row.usageEstimated, true);
    assert.ok(row.inputTokens > 0);
    assert.equal(row.outputTokens, 5);
  });

  it('records the summariser-style purpose note and budget stage together (refused calls cost nothing)', async () => {
    const ledger = new Ledger(new MemoryLedgerStore<LedgerRow>());
    const budgets = new Budgets(
      new MemoryCounterStore(),
      costConfigSchema.parse({ budgets: { users: { alice: { dailyUsd: 0.00001 } } } }).budgets,
    );
    const run = compose([
      recordStage({ ledger, prices }),
      budgetStage({ budgets, prices }),
      jsonUpstream(u(5, 5)),
    ]);
    await assert.rejects(run(chatCtx({ maxTokens: 1000 })));
    await ledger.idle();
    const [row] = await ledger.query({ since: 0 });
    assert.equal(row.status, 429);
    assert.equal(row.costUsd, 0);
  });
});

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

for (const kind of ['memory', 'sqlite'] as const) {
  describe(`usage report equals the sum of the ledger (${kind})`, () => {
    it('totals, per day, per user, per team and per model', async () => {
      let backend: Backend;
      if (kind === 'memory') backend = await openBackend({ dataDir: '', memory: true });
      else {
        const dir = mkdtempSync(join(tmpdir(), 'sluice-ledger-'));
        dirs.push(dir);
        backend = await openBackend({ dataDir: dir });
      }
      try {
        const ledger = new Ledger(backend.ledger<LedgerRow>('usage'));
        const now = Date.UTC(2025, 5, 15, 12);
        const day = 86_400_000;
        const models = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-20250514', 'unknown-model'];
        const users = ['alice', 'bob', 'carol'];
        let seed = 3;
        const rnd = (n: number) => {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          return (seed >>> 8) % n;
        };
        const written: LedgerRow[] = [];
        for (let i = 0; i < 300; i++) {
          const user = users[rnd(3)];
          const model = models[rnd(4)];
          const cost = model === 'unknown-model' ? null : Math.round(rnd(1_000_000) * 1.37) / 1e9;
          const row: LedgerRow = {
            ts: now - rnd(10) * day - rnd(day / 2),
            requestId: `r${i}`,
            user,
            ...(user !== 'carol' ? { team: user === 'alice' ? 'labs' : 'ops' } : {}),
            route: 'chat',
            requestedModel: model,
            model,
            inputTokens: rnd(5000),
            cacheReadTokens: rnd(2000),
            cacheWriteTokens: rnd(100),
            outputTokens: rnd(800),
            usageEstimated: false,
            costUsd: cost,
            costAvoidedUsd: rnd(4) === 0 ? rnd(10_000) / 1e9 : 0,
            promptCacheSavedUsd: (rnd(2000) - 500) / 1e9,
            cache: rnd(5) === 0 ? 'exact' : 'miss',
            latencyMs: rnd(3000),
            status: 200,
            outcome: 'ok',
            stream: false,
          };
          written.push(row);
          ledger.record(row);
        }
        await ledger.idle();
        const days = 7;
        const since = Math.floor(now / day) * day - (days - 1) * day;
        const inRange = written.filter((r) => r.ts >= since);
        const sumNano = (rows: LedgerRow[]) =>
          rows.reduce((n, r) => n + (r.costUsd === null ? 0 : toNano(r.costUsd)), 0);

        const all = await usageReport(ledger, { days, now });
        assert.equal(all.totals.requests, inRange.length);
        assert.equal(toNano(all.totals.cost_usd), sumNano(inRange));
        assert.equal(
          all.totals.tokens.input,
          inRange.reduce((n, r) => n + r.inputTokens, 0),
        );
        assert.equal(all.totals.unpriced_requests, inRange.filter((r) => r.costUsd === null).length);
        assert.equal(all.by_day.length, days);
        assert.equal(
          all.by_day.reduce((n, d) => n + toNano(d.cost_usd), 0),
          sumNano(inRange),
          'the days add up to the total',
        );
        for (const user of users) {
          assert.equal(toNano(all.by_user[user].cost_usd), sumNano(inRange.filter((r) => r.user === user)));
        }
        assert.equal(toNano(all.by_team.labs.cost_usd), sumNano(inRange.filter((r) => r.team === 'labs')));
        assert.equal(
          all.by_model['unknown-model'].unpriced_requests,
          inRange.filter((r) => r.model === 'unknown-model').length,
        );

        const alice = await usageReport(ledger, { user: 'alice', days: 3, now, detailed: true });
        const aliceRows = written.filter(
          (r) => r.user === 'alice' && r.ts >= Math.floor(now / day) * day - 2 * day,
        );
        assert.equal(alice.totals.requests, aliceRows.length);
        assert.equal(toNano(alice.totals.cost_usd), sumNano(aliceRows));
        assert.deepEqual(Object.keys(alice.by_user), aliceRows.length ? ['alice'] : []);
        assert.equal(
          alice.daily?.reduce((n, d) => n + d.requests, 0),
          aliceRows.length,
        );
      } finally {
        await backend.close();
      }
    });
  });
}

describe('usage query parameters', () => {
  it('parses user, days (default 7) and rejects bad days', () => {
    assert.deepEqual(usageQueryFrom(new URLSearchParams('user=alice&days=30')), {
      user: 'alice',
      team: undefined,
      model: undefined,
      days: 30,
      detailed: false,
    });
    assert.equal(usageQueryFrom(new URLSearchParams('')).days, 7);
    assert.throws(() => usageQueryFrom(new URLSearchParams('days=0')), /days must be/);
    assert.throws(() => usageQueryFrom(new URLSearchParams('days=abc')), /days must be/);
  });
});
