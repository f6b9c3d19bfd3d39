/**
 * The token economy end to end: auth → record → budget → shaping → the real upstream stage →
 * the simulated upstream over HTTP (127.0.0.1). Streams, usage chunks, prompt caching and the
 * books are the real thing here, not stand-ins.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { simulatedUpstreams } from '../src/app.js';
import { authConfigSchema } from '../src/auth/config.js';
import { validateConfig } from '../src/config/load.js';
import { costConfigSchema } from '../src/cost/config.js';
import { toNano } from '../src/cost/cost.js';
import { createTokenEconomy, type TokenEconomy } from '../src/cost/economy.js';
import { isSluiceError } from '../src/errors.js';
import { startMockUpstream, type MockUpstream } from '../src/mock/index.js';
import { compose } from '../src/pipeline/compose.js';
import { createContext } from '../src/pipeline/context.js';
import type { Dialect, Reply, RequestContext } from '../src/pipeline/types.js';
import { UpstreamRouter } from '../src/route/upstreams.js';
import { routingConfigSchema } from '../src/route/config.js';
import { openBackend, type Backend } from '../src/store/index.js';
import { tokensConfigSchema } from '../src/tokens/config.js';
import { UpstreamPools } from '../src/upstream/pool.js';
import { upstreamStage } from '../src/upstream/stage.js';

let mock: MockUpstream;
let backend: Backend;
let pools: UpstreamPools;
let eco: TokenEconomy;
let handle: (ctx: RequestContext) => Promise<Reply>;
let aliceKey: string;

before(async () => {
  mock = await startMockUpstream({ promptCacheMinTokens: 1024 });
  const core = validateConfig({ port: 0, logLevel: 'silent', upstreams: simulatedUpstreams(mock.url) });
  pools = new UpstreamPools(core, {});
  backend = await openBackend({ dataDir: '', memory: true });
  let afterAuth: (ctx: RequestContext) => Promise<Reply> = async () => {
    throw new Error('not ready');
  };
  eco = createTokenEconomy(
    {
      cost: costConfigSchema.parse({ budgets: { tiers: { tiny: { dailyUsd: 0.0005 } } } }),
      tokens: tokensConfigSchema.parse({ promptCache: { anthropicBreakpoints: true } }),
      routing: routingConfigSchema.parse({}),
      auth: authConfigSchema.parse({}),
    },
    { backend, runAfterAuth: (ctx) => afterAuth(ctx) },
  );
  const upstream = upstreamStage({ router: new UpstreamRouter(core), pools, usage: eco.usageReader });
  afterAuth = compose([eco.stages.record, eco.stages.budget, ...eco.stages.shape, upstream]);
  handle = compose([eco.stages.auth, (ctx) => afterAuth(ctx)]);
  aliceKey = (await eco.admin.createKey({ user: 'alice', team: 'labs', tier: 'pro' })).key;
});

after(async () => {
  await eco?.flush();
  await pools?.close();
  await backend?.close();
  await mock?.close();
});

function request(dialect: Dialect, body: Record<string, unknown>, key: string | null = aliceKey) {
  const ctx = createContext({
    dialect,
    route: dialect === 'anthropic' ? 'messages' : 'chat',
    headers: key ? { authorization: `Bearer ${key}` } : {},
    body,
    signal: new AbortController().signal,
    timeoutMs: 30_000,
  });
  return { ctx, reply: handle(ctx) };
}

async function text(reply: Reply): Promise<string> {
  if (reply.kind === 'json') return Buffer.from(reply.body).toString('utf8');
  let out = '';
  for await (const c of reply.chunks) out += Buffer.from(c).toString('utf8');
  return out;
}

async function lastRow() {
  await eco.flush();
  const rows = await eco.ledger.query({ since: 0 });
  return rows[rows.length - 1];
}

describe('token economy end to end (simulated upstream)', () => {
  it('refuses a request without a key once keys exist', async () => {
    const { reply } = request(
      'openai',
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      null,
    );
    await assert.rejects(reply, (e: unknown) => isSluiceError(e) && e.status === 401);
  });

  it('routes `auto`, hides the usage chunk it asked for, and books the provider usage of the stream', async () => {
    const { ctx, reply } = request('openai', {
      model: 'auto',
      stream: true,
      messages: [{ role: 'user', content: 'Hello!' }],
    });
    const body = await text(await reply);
    assert.ok(body.endsWith('data: [DONE]\n\n'));
    assert.ok(!body.includes('"choices":[]'), 'the client did not ask for the usage chunk');
    const sent = mock.received[mock.received.length - 1].body as Record<string, unknown>;
    assert.equal(sent.model, 'gpt-4o-mini');
    assert.deepEqual(sent.stream_options, { include_usage: true });
    assert.equal(ctx.responseHeaders['x-sluice-model'], 'gpt-4o-mini');
    const row = await lastRow();
    assert.equal(row.requestedModel, 'auto');
    assert.equal(row.model, 'gpt-4o-mini');
    assert.equal(row.usageEstimated, false, 'the provider reported usage');
    assert.ok(row.inputTokens > 0 && row.outputTokens > 0);
    assert.equal(toNano(row.costUsd!), toNano((row.inputTokens * 0.15 + row.outputTokens * 0.6) / 1e6));
    assert.equal(row.user, 'alice');
    assert.equal(row.team, 'labs');
  });

  it('keeps the usage chunk for a client that asked for it', async () => {
    const { reply } = request('openai', {
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Hello again' }],
    });
    assert.match(await text(await reply), /"choices":\[\],"usage":\{"prompt_tokens"/);
  });

  it('inserts Anthropic breakpoints; the next turn reads the cache and the books show the saving', async () => {
    const system = `You answer questions about the staff handbook. ${'Every clause of this handbook applies to all staff. '.repeat(220)}`;
    const turns = [
      { role: 'user', content: 'What does it say about leave?' },
      { role: 'assistant', content: 'Twenty-five days a year.' },
      { role: 'user', content: 'And about remote work?' },
    ];
    const first = request('anthropic', {
      model: 'claude-sonnet-4-20250514',
      max_tokens: 50,
      system,
      messages: turns,
    });
    await text(await first.reply);
    assert.equal(first.ctx.responseHeaders['x-sluice-cache-breakpoints'], 'system,conversation');
    const wrote = await lastRow();
    // The prefix up to the last breakpoint is now in the provider's cache. (The simulated
    // upstream counts the system breakpoint it has just written as a read for the later
    // breakpoint of the same request; Anthropic would report it all as a write.)
    const cachedPrefix = wrote.cacheWriteTokens + wrote.cacheReadTokens;
    assert.ok(cachedPrefix > 1024, `a cached prefix expected, got ${cachedPrefix}`);
    assert.ok(wrote.cacheWriteTokens > 0);
    const cost = (r: typeof wrote) =>
      (r.inputTokens * 3 + r.cacheReadTokens * 0.3 + r.cacheWriteTokens * 3.75 + r.outputTokens * 15) / 1e6;
    assert.equal(toNano(wrote.costUsd!), toNano(cost(wrote)));

    const second = request('anthropic', {
      model: 'claude-sonnet-4-20250514',
      max_tokens: 50,
      stream: true,
      system,
      messages: [
        ...turns,
        { role: 'assistant', content: 'Two days a week.' },
        { role: 'user', content: 'Thanks. Parking?' },
      ],
    });
    await text(await second.reply);
    const read = await lastRow();
    assert.ok(read.cacheReadTokens >= cachedPrefix, 'the earlier prefix is read from cache');
    assert.equal(toNano(read.costUsd!), toNano(cost(read)));
    assert.ok(read.promptCacheSavedUsd > 0);
  });

  it("/admin/usage for a user equals the sum of that user's ledger rows", async () => {
    // Rows of its own (a user no other test uses): two models, and a prompt-cache read.
    const { key } = await eco.admin.createKey({ user: 'ursula', team: 'labs', tier: 'pro' });
    await text(
      await request(
        'openai',
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi there' }] },
        key,
      ).reply,
    );
    const system = `You summarise the travel policy. ${'Book economy class for every trip under six hours. '.repeat(220)}`;
    for (const content of ['Can I fly business to Lisbon?', 'And to Tokyo?']) {
      const body = {
        model: 'claude-sonnet-4-20250514',
        max_tokens: 20,
        system,
        messages: [{ role: 'user', content }],
      };
      await text(await request('anthropic', body, key).reply);
    }
    const report = await eco.admin.usage(new URLSearchParams('user=ursula&days=1'));
    const rows = (await eco.ledger.query({ since: 0 })).filter((r) => r.user === 'ursula');
    assert.equal(rows.length, 3);
    assert.equal(report.totals.requests, rows.length);
    assert.equal(
      toNano(report.totals.cost_usd),
      rows.reduce((n, r) => n + toNano(r.costUsd ?? 0), 0),
    );
    assert.equal(
      report.totals.tokens.cache_read,
      rows.reduce((n, r) => n + r.cacheReadTokens, 0),
    );
    assert.ok(report.totals.tokens.cache_read > 0, 'the second Anthropic call read the cached system prompt');
    assert.deepEqual(Object.keys(report.by_model), ['claude-sonnet-4-20250514', 'gpt-4o-mini']);
  });

  it('a small tier budget refuses up front once spent, and the refusal is on the books', async () => {
    const { key } = await eco.admin.createKey({ user: 'tim', tier: 'tiny' });
    let refused: unknown;
    for (let i = 0; i < 40 && !refused; i++) {
      try {
        await text(
          await request(
            'openai',
            { model: 'gpt-4o', max_tokens: 20, messages: [{ role: 'user', content: `Question ${i}?` }] },
            key,
          ).reply,
        );
      } catch (e) {
        refused = e;
      }
    }
    assert.ok(isSluiceError(refused) && refused.code === 'budget_exceeded');
    assert.equal(refused.extra.details?.scope, 'user');
    const report = await eco.admin.usage(new URLSearchParams('user=tim&days=1'));
    assert.ok(report.totals.cost_usd <= 0.0005, `spent ${report.totals.cost_usd} of $0.0005`);
    assert.equal(report.totals.errors, 1);
  });
});
