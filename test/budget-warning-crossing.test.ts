import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { type BudgetEvent, Budgets } from '../src/cost/budget.js';
import { budgetStage } from '../src/cost/budget-stage.js';
import { costConfigSchema } from '../src/cost/config.js';
import { PriceBook } from '../src/cost/prices.js';
import { compose } from '../src/pipeline/compose.js';
import { MemoryCounterStore } from '../src/store/memory.js';
import { chatCtx, drain, streamUpstream } from './cost-helpers.js';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * Issue 13 point 5: the call that takes a budget past `warnAt` carries
 * `x-sluice-budget-warning` (JSON replies are settled before their head is written), and the
 * webhook fires at that call, not at the next one.
 */
const PRICES = { 'gpt-4o-mini': { inputPerMTok: 1000, outputPerMTok: 1000 } };
const ask = (i: number) => ({
  model: 'gpt-4o-mini',
  max_tokens: 8,
  messages: [{ role: 'user' as const, content: `Tell me about budgets, question ${i % 2}.` }],
});

describe('the budget warning comes on the call that crosses warnAt', () => {
  let costOfOneCall = 0;
  let gw: TestGateway;
  let hook: Server;
  const events: BudgetEvent[] = [];

  before(async () => {
    // What one call costs at these prices, measured on a gateway without budgets.
    const probe = await startTestGateway({ cost: { prices: PRICES } });
    try {
      const client = new OpenAI({ baseURL: probe.v1, apiKey: 'x', maxRetries: 0 });
      const costs: number[] = [];
      for (const i of [0, 1]) {
        const { response } = await client.chat.completions.create(ask(i)).withResponse();
        costs.push(Number(response.headers.get('x-sluice-cost-usd')));
      }
      assert.ok(costs[0] > 0 && costs[0] === costs[1], `equal costs per call: ${costs}`);
      costOfOneCall = costs[0];
    } finally {
      await probe.close();
    }
    hook = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => {
        text += c.toString();
      });
      req.on('end', () => {
        events.push(JSON.parse(text) as BudgetEvent);
        res.end();
      });
    });
    hook.listen(0, '127.0.0.1');
    await once(hook, 'listening');
    const webhookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    // One call spends 30 % of the budget, two spend 60 %: the second crosses warnAt = 50 %.
    gw = await startTestGateway({
      cost: {
        prices: PRICES,
        budgets: { warnAt: 0.5, webhookUrl, users: { payer: { dailyUsd: costOfOneCall / 0.3 } } },
      },
    });
  });
  after(async () => {
    await gw?.close();
    hook?.close();
  });

  it('first call quiet, second (the crossing) warned with its actual spend, webhook at once', async () => {
    const client = new OpenAI({
      baseURL: gw.v1,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-sluice-user': 'payer' },
    });
    const first = await client.chat.completions.create(ask(0)).withResponse();
    assert.equal(first.response.headers.get('x-sluice-budget-warning'), null, 'at 30 %: no warning');
    // Every settlement and the notifications it raised have been delivered: none for this one.
    await gw.sluice.gateway.economy.flush();
    assert.equal(events.length, 0);

    const second = await client.chat.completions.create(ask(1)).withResponse();
    const warning = second.response.headers.get('x-sluice-budget-warning') ?? '';
    assert.match(warning, /^scope=user; id=payer; window=day; used=(59|60)%; /);
    assert.match(warning, /; basis=actual$/);
    const spent = Number(/spent_usd=([0-9.e-]+)/.exec(warning)?.[1]);
    assert.ok(Math.abs(spent - 2 * costOfOneCall) < 1e-9, `spent ${spent} = two calls`);

    await gw.sluice.gateway.economy.flush();
    assert.deepEqual(
      events.map((e) => [e.event, e.scope_id]),
      [['budget_warning', 'payer']],
      'the webhook fired at the crossing call, before any further call',
    );
  });
});

describe('streams warn on their maximum cost (their head goes before the cost is known)', () => {
  const setup = () => {
    const counters = new MemoryCounterStore();
    const config = costConfigSchema.parse({
      prices: PRICES,
      budgets: { warnAt: 0.5, users: { alice: { dailyUsd: 1 } } },
    });
    const budgets = new Budgets(counters, config.budgets);
    const prices = new PriceBook({ overrides: config.prices });
    return { budgets, counters, stage: budgetStage({ budgets, prices }) };
  };
  const usage = { inputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 10 };

  it('warns (basis=max_cost) when the most the stream may cost would cross, not otherwise', async () => {
    const { budgets, counters, stage } = setup();
    const [scope] = budgets.scopesFor({ user: 'alice' });
    await counters.add(scope.counterKey, 400_000_000, scope.ttlSeconds); // $0.40 of $1 spent
    const streamOnce = async (maxTokens: number) => {
      const ctx = chatCtx({ stream: true, maxTokens });
      const upstream = streamUpstream(usage);
      const reply = await compose([stage, upstream.stage])(ctx);
      const header = ctx.responseHeaders['x-sluice-budget-warning'];
      upstream.push('data: {}\n\n');
      upstream.end();
      assert.equal(reply.kind, 'stream');
      if (reply.kind === 'stream') await drain(reply);
      return header;
    };
    assert.equal(await streamOnce(10), undefined, 'at most ~$0.42 of $1');
    // Up to $0.20 more: past 50 % if it used all of it.
    assert.match((await streamOnce(200)) ?? '', /used=6\d%.*; basis=max_cost$/);
  });
});
