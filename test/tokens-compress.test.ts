import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Budgets } from '../src/cost/budget.js';
import { budgetStage } from '../src/cost/budget-stage.js';
import { costConfigSchema } from '../src/cost/config.js';
import { Ledger, type LedgerRow } from '../src/cost/ledger.js';
import { PriceBook } from '../src/cost/prices.js';
import { recordStage } from '../src/cost/record-stage.js';
import { compose } from '../src/pipeline/compose.js';
import type { Dialect, Reply, RequestContext, Stage } from '../src/pipeline/types.js';
import { MemoryCounterStore, MemoryKvStore, MemoryLedgerStore } from '../src/store/memory.js';
import { SUMMARY_HEADING, type SummaryMessage, compressHistory } from '../src/tokens/compress.js';
import type { KeyRecord } from '../src/auth/keys.js';
import { compressionStage } from '../src/tokens/compress-stage.js';
import { tokensConfigSchema } from '../src/tokens/config.js';
import { countRequestTokens, countText } from '../src/tokens/count.js';
import { pipelineSummariser } from '../src/tokens/summariser.js';
import { trimSystemPrompts } from '../src/tokens/system-trim.js';
import { chatCtx, json, jsonUpstream } from './cost-helpers.js';

const filler = (i: number) =>
  `Message ${i}: ${'We talked about the river, the mill and the harvest. '.repeat(12)}`;

/** An OpenAI conversation of `turns` turns; every third turn uses a tool. */
function openaiConversation(turns: number): Array<Record<string, unknown>> {
  const m: Array<Record<string, unknown>> = [
    { role: 'system', content: 'You are a helpful farming assistant.' },
    { role: 'developer', content: 'Answer in English.' },
  ];
  for (let t = 0; t < turns; t++) {
    m.push({ role: 'user', content: filler(t) });
    if (t % 3 === 1) {
      m.push({
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: `call_${t}`, type: 'function', function: { name: 'weather', arguments: `{"day":${t}}` } },
        ],
      });
      m.push({ role: 'tool', tool_call_id: `call_${t}`, content: `Rain expected on day ${t}.` });
    }
    m.push({ role: 'assistant', content: `Answer ${t}: ${'All is well in the valley. '.repeat(8)}` });
  }
  return m;
}

/** An Anthropic conversation with tool_use / tool_result pairs. */
function anthropicConversation(turns: number): Array<Record<string, unknown>> {
  const m: Array<Record<string, unknown>> = [];
  for (let t = 0; t < turns; t++) {
    m.push({ role: 'user', content: [{ type: 'text', text: filler(t) }] });
    if (t % 2 === 0) {
      m.push({
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: `tu_${t}`, name: 'weather', input: { day: t } },
        ],
      });
      m.push({
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: `tu_${t}`, content: `Sunny on day ${t}.` }],
      });
    }
    m.push({ role: 'assistant', content: `Answer ${t}.` });
  }
  return m;
}

function counter(dialect: Dialect, model: string) {
  return (body: Record<string, unknown>) =>
    countRequestTokens(dialect, dialect === 'openai' ? 'chat' : 'messages', body, { model }).tokens;
}

function fakeSummariser(text = 'They discussed the river, the mill and rain forecasts.') {
  const calls: SummaryMessage[][] = [];
  const fn = async (messages: SummaryMessage[]) => {
    calls.push(messages);
    return { text, usage: { inputTokens: 400, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 30 } };
  };
  return { fn, calls };
}

const config = (over: Record<string, unknown> = {}) =>
  tokensConfigSchema.parse({ compression: { thresholdTokens: 1200, keepTurns: 3, ...over } }).compression;

/** Every tool result must follow the assistant message that called it. */
function assertToolPairsIntact(dialect: Dialect, messages: Array<Record<string, unknown>>) {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (dialect === 'openai' && m.role === 'tool') {
      const called = messages
        .slice(0, i)
        .reverse()
        .find((x) => x.role === 'assistant');
      const ids = ((called?.tool_calls as Array<{ id: string }>) ?? []).map((c) => c.id);
      assert.ok(
        ids.includes(m.tool_call_id as string),
        `tool result ${String(m.tool_call_id)} lost its call`,
      );
    }
    if (dialect === 'anthropic' && Array.isArray(m.content)) {
      for (const b of m.content as Array<Record<string, unknown>>) {
        if (b.type !== 'tool_result') continue;
        const prev = messages[i - 1];
        const uses = Array.isArray(prev?.content)
          ? (prev.content as Array<Record<string, unknown>>)
              .filter((x) => x.type === 'tool_use')
              .map((x) => x.id)
          : [];
        assert.ok(uses.includes(b.tool_use_id), `tool_result ${String(b.tool_use_id)} lost its tool_use`);
      }
    }
  }
}

describe('history compression', () => {
  it('leaves a prompt under the limit alone', async () => {
    const s = fakeSummariser();
    const body = { model: 'gpt-4o', messages: openaiConversation(2) };
    const r = await compressHistory({
      dialect: 'openai',
      body,
      config: config(),
      count: counter('openai', 'gpt-4o'),
      summarise: s.fn,
      caller: { user: 'a' },
    });
    assert.equal(r, undefined);
    assert.equal(s.calls.length, 0);
  });

  it('OpenAI: keeps system messages and the last 3 turns verbatim, tool pairs intact, reports before → after', async () => {
    const s = fakeSummariser();
    const messages = openaiConversation(10);
    const body = { model: 'gpt-4o', messages };
    const count = counter('openai', 'gpt-4o');
    const r = await compressHistory({
      dialect: 'openai',
      body,
      config: config(),
      count,
      summarise: s.fn,
      caller: { user: 'a' },
    });
    assert.ok(r);
    const out = r.body.messages as Array<Record<string, unknown>>;
    assert.deepEqual(out.slice(0, 2), messages.slice(0, 2), 'system and developer messages first, unchanged');
    assert.equal(out[2].role, 'system');
    assert.equal(
      out[2].content,
      `${SUMMARY_HEADING}\nThey discussed the river, the mill and rain forecasts.`,
    );
    // The last three turns: from the third-last user message on, identical.
    const userIdx = messages.flatMap((m, i) => (m.role === 'user' ? [i] : []));
    const tail = messages.slice(userIdx[userIdx.length - 3]);
    assert.deepEqual(out.slice(3), tail);
    assertToolPairsIntact('openai', out);
    assert.equal(r.tokensBefore, count(body));
    assert.equal(r.tokensAfter, count(r.body));
    assert.ok(r.tokensAfter < r.tokensBefore);
    assert.equal(r.summary, 'summariser');
    // The summariser saw the older turns, including the tool call and its result, and not the kept ones.
    const input = s.calls[0][1].content;
    assert.match(input, /Assistant called tool weather\(\{"day":1\}\)/);
    assert.match(input, /Tool result: Rain expected on day 1\./);
    assert.doesNotMatch(input, /Message 9:/);
  });

  it('Anthropic: never splits a tool_use from its tool_result, summary goes into system blocks', async () => {
    const s = fakeSummariser();
    const messages = anthropicConversation(9);
    const body = {
      model: 'claude-sonnet-4-20250514',
      system: 'You are a farmer.',
      messages,
      max_tokens: 100,
    };
    const count = counter('anthropic', 'claude-sonnet-4-20250514');
    for (const keepTurns of [1, 2, 3, 4]) {
      const r = await compressHistory({
        dialect: 'anthropic',
        body,
        config: config({ keepTurns }),
        count,
        summarise: s.fn,
        caller: { user: 'a' },
      });
      assert.ok(r);
      const out = r.body.messages as Array<Record<string, unknown>>;
      assert.equal(out[0].role, 'user');
      assert.ok(
        !(out[0].content as Array<{ type: string }>).some((b) => b.type === 'tool_result'),
        'starts on a turn, not a tool result',
      );
      assertToolPairsIntact('anthropic', out);
      assert.deepEqual(
        out,
        messages.slice(messages.length - out.length),
        'the kept part is the unchanged tail',
      );
      assert.deepEqual(r.body.system, [
        { type: 'text', text: 'You are a farmer.' },
        { type: 'text', text: `${SUMMARY_HEADING}\nThey discussed the river, the mill and rain forecasts.` },
      ]);
    }
  });

  it('reuses a stored summary for the next turn, and extends it incrementally when needed', async () => {
    const store = new MemoryKvStore();
    const s = fakeSummariser();
    const count = counter('openai', 'gpt-4o');
    const base = openaiConversation(8);
    const run = (messages: Array<Record<string, unknown>>) =>
      compressHistory({
        dialect: 'openai',
        body: { model: 'gpt-4o', messages },
        config: config({ thresholdTokens: 1500 }),
        count,
        summarise: s.fn,
        caller: { user: 'a' },
        store,
      });
    const first = await run(base);
    assert.equal(first?.summary, 'summariser');
    assert.equal(s.calls.length, 1);
    // The client sends its full history plus one more exchange: the stored summary still covers the old prefix.
    const next = [
      ...base,
      { role: 'user', content: 'Short follow-up?' },
      { role: 'assistant', content: 'Short answer.' },
    ];
    const second = await run(next);
    assert.equal(second?.summary, 'cache');
    assert.equal(s.calls.length, 1, 'not re-summarised');
    assert.ok(second && second.tokensAfter <= 1500);
    // Many more long turns: the stored summary is extended with only the messages since.
    const longer = [...next];
    for (let t = 20; t < 24; t++)
      longer.push({ role: 'user', content: filler(t) }, { role: 'assistant', content: filler(t) });
    const third = await run(longer);
    assert.equal(third?.summary, 'incremental');
    assert.equal(s.calls.length, 2);
    const input = s.calls[1][1].content;
    assert.match(input, /^Summary of the conversation so far:\nThey discussed/);
    assert.doesNotMatch(input, /Message 0:/, 'old messages are not sent again');
    assert.match(input, /Short follow-up\?/);
  });

  it('a changed history does not reuse a summary of a different prefix', async () => {
    const store = new MemoryKvStore();
    const s = fakeSummariser();
    const count = counter('openai', 'gpt-4o');
    const a = openaiConversation(8);
    const b = openaiConversation(8).map((m, i) =>
      i === 4 ? { ...m, content: 'An edited earlier message.' } : m,
    );
    const run = (messages: Array<Record<string, unknown>>) =>
      compressHistory({
        dialect: 'openai',
        body: { model: 'gpt-4o', messages },
        config: config(),
        count,
        summarise: s.fn,
        caller: { user: 'a' },
        store,
      });
    await run(a);
    const r = await run(b);
    assert.equal(r?.summary, 'summariser');
    assert.equal(s.calls.length, 2);
  });
});

/** A virtual key as the auth stage leaves it on the request (only what the test is about, plus the required fields). */
const virtualKey = (over: Partial<KeyRecord> & { id: string }): KeyRecord => ({
  hash: '',
  prefix: 'sk-sluice-test',
  user: 'alice',
  createdAt: new Date(0).toISOString(),
  ...over,
});

describe('compression stage through the gateway pipeline', () => {
  const upstream: Stage = async (ctx) => {
    ctx.upstream = 'fake';
    ctx.responseHeaders['x-sluice-model'] = ctx.model;
    if (ctx.purpose === 'summary') {
      ctx.usage = { inputTokens: 900, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 80 };
      return json({ choices: [{ index: 0, message: { role: 'assistant', content: 'A short summary.' } }] });
    }
    ctx.usage = { inputTokens: 700, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 20 };
    return json({ choices: [{ index: 0, message: { role: 'assistant', content: 'Fine.' } }] });
  };

  function gateway(configOver: Record<string, unknown>) {
    const tokens = tokensConfigSchema.parse({ compression: { thresholdTokens: 1200, ...configOver } });
    const ledger = new Ledger(new MemoryLedgerStore<LedgerRow>());
    const prices = new PriceBook();
    const counters = new MemoryCounterStore();
    const budgets = new Budgets(
      counters,
      costConfigSchema.parse({ budgets: { users: { alice: { dailyUsd: 5 } } } }).budgets,
    );
    let handler: (ctx: RequestContext) => Promise<Reply> = async () => {
      throw new Error('not ready');
    };
    const summarise = pipelineSummariser({ run: (ctx) => handler(ctx), maxTokens: 300 });
    handler = compose([
      recordStage({ ledger, prices }),
      budgetStage({ budgets, prices }),
      compressionStage({ config: tokens, summarise, store: new MemoryKvStore() }),
      upstream,
    ]);
    return { handler, ledger, budgets, counters };
  }

  it('records the summariser call to the same caller, in the ledger and the budget', async () => {
    const g = gateway({ enabled: true });
    const ctx = chatCtx({ model: 'gpt-4o', messages: openaiConversation(10), maxTokens: 100 });
    ctx.virtualKey = virtualKey({ id: 'vk_alice', dailyUsd: 2 });
    await g.handler(ctx);
    await g.ledger.idle();
    await g.budgets.idle();
    const rows = await g.ledger.query({ since: 0 });
    assert.equal(rows.length, 2);
    const summary = rows.find((r) => r.purpose === 'summary')!;
    const main = rows.find((r) => r.purpose === undefined)!;
    assert.equal(summary.user, 'alice');
    assert.equal(summary.keyId, 'vk_alice', 'the summary is charged to the same key');
    assert.equal(summary.model, 'gpt-4o-mini');
    assert.equal(summary.costUsd, (900 * 0.15 + 80 * 0.6) / 1e6);
    assert.equal(main.model, 'gpt-4o');
    const [before, after] = (ctx.responseHeaders['x-sluice-compression'] ?? '').split('->').map(Number);
    assert.ok(after < before, 'x-sluice-compression says tokens before -> after');
    const [spent] = await g.counters.get(g.budgets.scopesFor({ user: 'alice' }).map((s) => s.counterKey));
    assert.equal(
      spent,
      Math.round(summary.costUsd! * 1e9) + Math.round(main.costUsd! * 1e9),
      'both calls are charged to alice',
    );
  });

  it('is opt-in: off by default, on per request header or per key, off by header', async () => {
    const off = gateway({});
    const plain = chatCtx({ model: 'gpt-4o', messages: openaiConversation(10), maxTokens: 100 });
    await off.handler(plain);
    assert.equal(plain.responseHeaders['x-sluice-compression'], undefined);
    const asked = chatCtx({
      model: 'gpt-4o',
      messages: openaiConversation(10),
      maxTokens: 100,
      headers: { 'x-sluice-compress': 'on' },
    });
    await off.handler(asked);
    assert.ok(asked.responseHeaders['x-sluice-compression']);
    const keyed = chatCtx({ model: 'gpt-4o', messages: openaiConversation(10), maxTokens: 100 });
    keyed.virtualKey = virtualKey({ id: 'vk_1', compress: true });
    await off.handler(keyed);
    assert.ok(keyed.responseHeaders['x-sluice-compression']);
    const on = gateway({ enabled: true });
    const refused = chatCtx({
      model: 'gpt-4o',
      messages: openaiConversation(10),
      maxTokens: 100,
      headers: { 'x-sluice-compress': 'off' },
    });
    await on.handler(refused);
    assert.equal(refused.responseHeaders['x-sluice-compression'], undefined);
  });

  it('a failing summariser leaves the request uncompressed instead of failing it', async () => {
    const tokens = tokensConfigSchema.parse({ compression: { enabled: true, thresholdTokens: 1200 } });
    const upstreamSeen: unknown[] = [];
    const stage = compressionStage({
      config: tokens,
      summarise: async () => {
        throw new Error('summariser down');
      },
    });
    const messages = openaiConversation(10);
    const ctx = chatCtx({ model: 'gpt-4o', messages });
    await compose([
      stage,
      async (c) => {
        upstreamSeen.push(c.body.messages);
        return jsonUpstream(undefined)(c, async () => json({}));
      },
    ])(ctx);
    assert.equal(upstreamSeen[0], messages);
  });
});

describe('system prompt trim (head and tail)', () => {
  it('keeps the head and tail of an over-long system prompt, within the token limit', () => {
    const head = 'RULES: answer briefly. ';
    const tail = ' FORMAT: reply in JSON.';
    const system = head + 'Background detail that matters less. '.repeat(300) + tail;
    const trim = tokensConfigSchema.parse({ systemTrim: { enabled: true, maxTokens: 200 } }).systemTrim;
    const count = (t: string) => countText(t, 'gpt-4o').tokens;
    const r = trimSystemPrompts(
      'openai',
      {
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: 'hi' },
        ],
      },
      trim,
      count,
    );
    assert.ok(r);
    const out = (r.body.messages as Array<{ content: string }>)[0].content;
    assert.ok(out.startsWith(head));
    assert.ok(out.endsWith(tail));
    assert.ok(out.includes('[middle of the system prompt omitted]'));
    assert.ok(count(out) <= 200);
    assert.equal(
      (r.body.messages as Array<{ content: string }>)[1].content,
      'hi',
      'other messages untouched',
    );
    const a = trimSystemPrompts(
      'anthropic',
      { system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }] },
      trim,
      count,
    );
    assert.ok(a);
    const block = (a.body.system as Array<Record<string, unknown>>)[0];
    assert.deepEqual(block.cache_control, { type: 'ephemeral' });
    assert.equal(
      trimSystemPrompts('openai', { messages: [{ role: 'system', content: 'short' }] }, trim, count),
      undefined,
    );
  });
});
