import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { type BudgetEvent, Budgets } from '../src/cost/budget.js';
import { budgetStage } from '../src/cost/budget-stage.js';
import { costConfigSchema } from '../src/cost/config.js';
import { PriceBook } from '../src/cost/prices.js';
import { SluiceError, isSluiceError } from '../src/errors.js';
import { compose } from '../src/pipeline/compose.js';
import type { Caller, Stage, StreamReply, Usage } from '../src/pipeline/types.js';
import { DIALECTS } from '../src/dialect/index.js';
import { MemoryCounterStore } from '../src/store/memory.js';
import { countChatTokens } from '../src/tokens/count.js';
import { chatCtx, drain, flush, jsonUpstream, sleep, streamUpstream } from './cost-helpers.js';

// gpt-4o-mini list prices per million tokens.
const IN = 0.15;
const OUT = 0.6;
const nano = (usd: number) => Math.round(usd * 1e9);
const messages = [{ role: 'user', content: 'Summarise the plot of Hamlet in two lines.' }];
const PROMPT = countChatTokens('openai', { model: 'gpt-4o-mini', messages }).tokens;
const usage = (output: number, input = PROMPT): Usage => ({
  inputTokens: input,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: output,
});
const costNano = (u: Usage) => nano((u.inputTokens * IN + u.outputTokens * OUT) / 1e6);

function setup(
  budgets: Record<string, unknown> = { users: { alice: { dailyUsd: 1 } } },
  notify?: (e: BudgetEvent) => Promise<void>,
) {
  const counters = new MemoryCounterStore();
  const config = costConfigSchema.parse({ budgets: { abortGraceMs: 30, ...budgets } });
  const b = new Budgets(counters, config.budgets, { notify });
  const spent = async (caller: Caller = { user: 'alice' }) => {
    await b.idle();
    return (await counters.get(b.scopesFor(caller).map((s) => s.counterKey)))[0];
  };
  const run = (upstream: Stage) => compose([budgetStage({ budgets: b, prices: new PriceBook() }), upstream]);
  return { budgets: b, counters, spent, run };
}

describe('budget settlement', () => {
  it('holds the reservation during the call and settles to the actual cost after success', async () => {
    const t = setup();
    let during = -1;
    const upstream: Stage = async (ctx, next) => {
      during = (await t.counters.get(t.budgets.scopesFor(ctx.caller).map((s) => s.counterKey)))[0];
      return jsonUpstream(usage(40))(ctx, next);
    };
    await t.run(upstream)(chatCtx({ messages, maxTokens: 300 }));
    assert.equal(during, nano((PROMPT * IN + 300 * OUT) / 1e6), 'prompt + max output at list price is held');
    assert.equal(await t.spent(), costNano(usage(40)));
  });

  it('releases the reservation when the call fails or the upstream answers an error', async () => {
    const t = setup();
    const failing: Stage = async () => {
      throw new SluiceError('upstream_unreachable', 'down');
    };
    await assert.rejects(t.run(failing)(chatCtx({ messages, maxTokens: 300 })), /down/);
    assert.equal(await t.spent(), 0);
    const reply = await t.run(jsonUpstream(usage(10), { status: 500 }))(
      chatCtx({ messages, maxTokens: 300 }),
    );
    assert.equal(reply.status, 500);
    assert.equal(await t.spent(), 0, 'providers do not bill error replies');
  });

  it('settles a stream at its end, not before', async () => {
    const t = setup();
    const s = streamUpstream(usage(77));
    const reply = (await t.run(s.stage)(chatCtx({ messages, maxTokens: 300, stream: true }))) as StreamReply;
    const reading = drain(reply);
    s.push('data: {"choices":[{"delta":{"content":"To be"}}]}\n\n');
    await flush();
    assert.equal(await t.spent(), nano((PROMPT * IN + 300 * OUT) / 1e6), 'still reserved mid-stream');
    s.end();
    await reading;
    assert.equal(await t.spent(), costNano(usage(77)));
  });

  it('settles a stream the client aborted mid-way: usage if known, else the prompt at list price', async () => {
    const t = setup();
    const s = streamUpstream(undefined);
    const reply = (await t.run(s.stage)(chatCtx({ messages, maxTokens: 300, stream: true }))) as StreamReply;
    const it = reply.chunks[Symbol.asyncIterator]();
    s.push('data: {"choices":[{"delta":{"content":"To be"}}]}\n\n');
    await it.next();
    await it.return?.(); // the client went away
    assert.equal(await t.spent(), costNano(usage(0)), 'the provider billed at least the prompt');
  });

  it('settles a stream whose client disconnected before it was read (grace period after abort)', async () => {
    const t = setup();
    const abort = new AbortController();
    const s = streamUpstream(usage(5));
    await t.run(s.stage)(chatCtx({ messages, maxTokens: 300, stream: true, signal: abort.signal }));
    abort.abort();
    assert.ok((await t.spent()) > costNano(usage(0)), 'still held right after the abort');
    await sleep(60);
    assert.equal(await t.spent(), costNano(usage(0)));
  });

  it('caps max tokens when the request sets none, so the reservation is a true bound', async () => {
    const t = setup({ users: { alice: { dailyUsd: 1 } }, defaultMaxOutputTokens: 256 });
    const ctx = chatCtx({ messages });
    await t.run(jsonUpstream(usage(3)))(ctx);
    assert.equal(ctx.body.max_completion_tokens, 256);
    const anthropic = chatCtx({
      dialect: 'anthropic',
      model: 'claude-3-5-haiku-latest',
      messages,
      maxTokens: 100,
    });
    await t.run(jsonUpstream(usage(3)))(anthropic);
    assert.equal(anthropic.body.max_tokens, 100, 'a cap the caller set is left alone');
  });

  it('team and key budgets apply together with the user budget', async () => {
    const t = setup({ users: { alice: { dailyUsd: 1 } }, teams: { research: { dailyUsd: 0.0003 } } });
    const caller = { user: 'bob', team: 'research' };
    await assert.rejects(
      t.run(jsonUpstream(usage(10)))(chatCtx({ caller, messages, maxTokens: 1000 })),
      (e: unknown) =>
        isSluiceError(e) && e.extra.details?.scope === 'team' && e.extra.details.scope_id === 'research',
    );
    const scopes = t.budgets.scopesFor(
      { user: 'carol', tier: 'pro', team: 'research' },
      { id: 'vk_1', monthlyUsd: 20 },
    );
    assert.deepEqual(
      scopes.map((s) => `${s.scope}:${s.id}:${s.window}:${s.limitNano}`),
      ['key:vk_1:month:20000000000', 'user:carol:day:5000000000', 'team:research:day:300000'],
    );
  });

  it('callers without any budget are not reserved against', async () => {
    const t = setup({ users: {} });
    const upstream = jsonUpstream(usage(1));
    await t.run(upstream)(chatCtx({ caller: { user: 'nobody' }, messages }));
    assert.equal(upstream.calls, 1);
    assert.deepEqual(t.budgets.scopesFor({ user: 'nobody' }), []);
  });
});

describe('budget warnings and refusals', () => {
  it('warns at 80 % in a header, a log event and the webhook (once per window)', async () => {
    const events: BudgetEvent[] = [];
    const t = setup({ users: { alice: { dailyUsd: 0.001 } } }, async (e) => {
      events.push(e);
    });
    const [scope] = t.budgets.scopesFor({ user: 'alice' });
    await t.counters.add(scope.counterKey, nano(0.00085), scope.ttlSeconds);
    const ctx = chatCtx({ messages, maxTokens: 50 });
    await t.run(jsonUpstream(usage(5)))(ctx);
    const header = ctx.responseHeaders['x-sluice-budget-warning'];
    assert.match(header, /scope=user; id=alice; window=day; used=85%/);
    assert.match(header, /limit_usd=0\.001/);
    await t.run(jsonUpstream(usage(5)))(chatCtx({ messages, maxTokens: 50 }));
    await t.budgets.idle();
    await flush();
    assert.equal(events.filter((e) => e.event === 'budget_warning').length, 1);
    assert.equal(events[0].scope_id, 'alice');
    const below = setup({ users: { alice: { dailyUsd: 1 } } });
    const quiet = chatCtx({ messages, maxTokens: 50 });
    await below.run(jsonUpstream(usage(5)))(quiet);
    assert.equal(quiet.responseHeaders['x-sluice-budget-warning'], undefined);
  });

  it('refuses over 100 % with 429 budget_exceeded naming scope, limit, spent and reset time', async () => {
    const t = setup({ users: { alice: { dailyUsd: 0.001 } } });
    const [scope] = t.budgets.scopesFor({ user: 'alice' });
    await t.counters.add(scope.counterKey, nano(0.00099), scope.ttlSeconds);
    const upstream = jsonUpstream(usage(5));
    let err: unknown;
    try {
      await t.run(upstream)(chatCtx({ messages, maxTokens: 200 }));
    } catch (e) {
      err = e;
    }
    assert.ok(isSluiceError(err));
    assert.equal(upstream.calls, 0);
    assert.equal(err.status, 429);
    assert.equal(err.extra.retryable, false, 'waiting cannot cure a spent budget');
    assert.equal(err.extra.retryAfterSeconds, undefined);
    const body = DIALECTS.openai.errorBody(err) as { error: Record<string, unknown> };
    assert.equal(body.error.code, 'budget_exceeded');
    assert.equal(body.error.type, 'insufficient_quota');
    assert.equal(body.error.scope, 'user');
    assert.equal(body.error.scope_id, 'alice');
    assert.equal(body.error.window, 'day');
    assert.equal(body.error.limit_usd, 0.001);
    assert.equal(body.error.spent_usd, 0.00099);
    const midnight = new Date(Math.floor(Date.now() / 86_400_000 + 1) * 86_400_000).toISOString();
    assert.equal(body.error.reset_at, midnight);
    assert.match(
      String(body.error.message),
      /Daily budget of user 'alice' exceeded: \$0\.000990 of \$0\.001000.*resets at/,
    );
    const anthropic = DIALECTS.anthropic.errorBody(err) as { type: string; error: Record<string, unknown> };
    assert.equal(anthropic.error.type, 'rate_limit_error');
    assert.equal(anthropic.error.scope, 'user');
  });

  it('says when one request alone is over the whole budget', async () => {
    const t = setup({ users: { alice: { dailyUsd: 0.0001 } } });
    await assert.rejects(
      t.run(jsonUpstream(usage(5)))(chatCtx({ messages, maxTokens: 100_000 })),
      /this request alone may cost up to .*Lower max_tokens/,
    );
  });

  it('posts budget events to a webhook URL', async () => {
    const received: unknown[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.end('ok');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      const t = setup({ users: { alice: { dailyUsd: 0.001 } }, webhookUrl: `http://127.0.0.1:${port}/hook` });
      const [scope] = t.budgets.scopesFor({ user: 'alice' });
      await t.counters.add(scope.counterKey, nano(0.0009), scope.ttlSeconds);
      await t.run(jsonUpstream(usage(1)))(chatCtx({ messages, maxTokens: 10 }));
      await t.budgets.idle(); // the settlement and the webhook it raised
      assert.equal((received[0] as BudgetEvent).event, 'budget_warning');
      assert.equal((received[0] as BudgetEvent).limit_usd, 0.001);
    } finally {
      server.close();
    }
  });

  it('an unpriced model is allowed by default (reserves nothing) and refused when configured', async () => {
    const allow = setup();
    const upstream = jsonUpstream(usage(10));
    await allow.run(upstream)(chatCtx({ model: 'my-private-llm', messages }));
    assert.equal(upstream.calls, 1);
    assert.equal(await allow.spent(), 0);
    const refuse = setup({ users: { alice: { dailyUsd: 1 } }, unpriced: 'refuse' });
    await assert.rejects(
      refuse.run(upstream)(chatCtx({ model: 'my-private-llm', messages })),
      /has no known price/,
    );
  });
});
