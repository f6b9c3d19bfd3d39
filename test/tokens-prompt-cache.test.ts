import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LedgerRow } from '../src/cost/ledger.js';
import { compose } from '../src/pipeline/compose.js';
import { createContext } from '../src/pipeline/context.js';
import { tokensConfigSchema } from '../src/tokens/config.js';
import { countText } from '../src/tokens/count.js';
import { type BreakpointOptions, insertCacheBreakpoints } from '../src/tokens/prompt-cache.js';
import { PromptCacheMonitor, prefixFingerprint } from '../src/tokens/prompt-cache-monitor.js';
import { minCacheableTokens, promptCacheStage } from '../src/tokens/prompt-cache-stage.js';
import { chatCtx, jsonUpstream } from './cost-helpers.js';

const longText = (words: number, seed = 'policy') =>
  `${seed}: ${'Every clause of this policy applies to all staff. '.repeat(words / 9)}`;
const options = (over: Partial<BreakpointOptions> = {}): BreakpointOptions => ({
  minTokens: 1024,
  documentMinTokens: 1024,
  ttl: '5m',
  countText: (t) => countText(t, 'claude-sonnet-4').tokens,
  ...over,
});

type Block = Record<string, unknown>;

/** The request with every string turned into one text block and every cache_control removed. */
function contentOf(body: Record<string, unknown>): unknown {
  const blocks = (c: unknown) =>
    (typeof c === 'string' ? [{ type: 'text', text: c }] : ((c as Block[] | undefined) ?? [])).map(
      ({ cache_control: _, ...b }) => b,
    );
  return {
    ...body,
    system: body.system === undefined ? undefined : blocks(body.system),
    tools: (body.tools as Block[] | undefined)?.map(({ cache_control: _, ...t }) => t),
    messages: (body.messages as Block[]).map((m) => ({ ...m, content: blocks(m.content) })),
  };
}

function marks(body: Record<string, unknown>): string[] {
  const out: string[] = [];
  const scan = (blocks: unknown, name: (i: number) => string) => {
    if (!Array.isArray(blocks)) return;
    for (let i = 0; i < blocks.length; i++) if ((blocks[i] as Block).cache_control) out.push(name(i));
  };
  scan(body.tools, (i) => `tool${i}`);
  scan(body.system, (i) => `system${i}`);
  (body.messages as Block[]).forEach((m, mi) => {
    scan(m.content, (i) => `m${mi}.${i}`);
  });
  return out;
}

const conversation = [
  { role: 'user', content: 'What does the policy say about leave?' },
  { role: 'assistant', content: 'It grants 25 days.' },
  { role: 'user', content: 'And about remote work?' },
];

describe('Anthropic cache breakpoints', () => {
  it('marks the end of a long system prompt and of the conversation, changing no content', () => {
    const body = {
      model: 'claude-sonnet-4-20250514',
      max_tokens: 100,
      system: longText(1500),
      messages: conversation,
    };
    const r = insertCacheBreakpoints(body, options());
    assert.deepEqual(r.added, ['system', 'conversation']);
    assert.deepEqual(marks(r.body), ['system0', 'm2.0']);
    assert.deepEqual(contentOf(r.body), contentOf(body), 'same content, same order');
    assert.deepEqual((r.body.system as Block[])[0], {
      type: 'text',
      text: body.system,
      cache_control: { type: 'ephemeral' },
    });
    assert.equal(typeof body.system, 'string', 'the input body is not mutated');
  });

  it('adds nothing when the prefix is too short to be cached', () => {
    const body = { model: 'claude-sonnet-4-20250514', system: 'Be brief.', messages: conversation };
    const r = insertCacheBreakpoints(body, options());
    assert.deepEqual(r.added, []);
    assert.equal(r.body, body);
  });

  it('does not mark a single-turn conversation (a cache write nobody reads)', () => {
    const body = { system: longText(1500), messages: [{ role: 'user', content: 'Question?' }] };
    assert.deepEqual(insertCacheBreakpoints(body, options()).added, ['system']);
  });

  it('marks tools when there is no system prompt, and long documents in the conversation', () => {
    const tools = Array.from({ length: 12 }, (_, i) => ({
      name: `tool_${i}`,
      description: longText(120, `tool ${i}`),
      input_schema: { type: 'object', properties: { q: { type: 'string' } } },
    }));
    const body = {
      tools,
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'document',
              source: { type: 'text', media_type: 'text/plain', data: longText(2000, 'handbook') },
            },
            { type: 'text', text: 'Summarise.' },
          ],
        },
        { role: 'assistant', content: 'Done.' },
        { role: 'user', content: 'Thanks, now the key dates?' },
      ],
    };
    const r = insertCacheBreakpoints(body, options());
    assert.deepEqual(r.added, ['tools', 'conversation', 'document']);
    assert.deepEqual(marks(r.body), ['tool11', 'm0.0', 'm2.0']);
    assert.deepEqual(contentOf(r.body), contentOf(body));
  });

  it("keeps the caller's breakpoints and never exceeds 4 in total", () => {
    const body = {
      system: [
        { type: 'text', text: longText(1500, 'A'), cache_control: { type: 'ephemeral' } },
        { type: 'text', text: longText(1500, 'B') },
      ],
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: longText(1500, 'C'), cache_control: { type: 'ephemeral' } }],
        },
        {
          role: 'assistant',
          content: [{ type: 'text', text: longText(1500, 'D'), cache_control: { type: 'ephemeral' } }],
        },
        { role: 'user', content: [{ type: 'text', text: longText(1500, 'E') }] },
      ],
    };
    const r = insertCacheBreakpoints(body, options());
    assert.equal(r.existing, 3);
    assert.equal(marks(r.body).length, 4);
    for (const m of ['system0', 'm0.0', 'm1.0'])
      assert.ok(marks(r.body).includes(m), `caller mark ${m} kept`);
    assert.deepEqual(contentOf(r.body), contentOf(body));
    const full = {
      ...body,
      system: [{ ...body.system[0] }, { ...body.system[1], cache_control: { type: 'ephemeral' } }],
    };
    assert.deepEqual(insertCacheBreakpoints(full, options()).added, [], 'four already: nothing added');
  });

  it('leaves requests with automatic (top-level) caching alone', () => {
    const body = { cache_control: { type: 'ephemeral' }, system: longText(1500), messages: conversation };
    assert.equal(insertCacheBreakpoints(body, options()).body, body);
  });

  it("respects Anthropic's TTL order (1-hour entries before 5-minute ones)", () => {
    const oneHourSystem = {
      system: [{ type: 'text', text: longText(1500), cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: conversation,
    };
    // A 5-minute mark may follow a caller's 1-hour mark.
    assert.deepEqual(insertCacheBreakpoints(oneHourSystem, options()).added, ['conversation']);
    const fiveMinuteLast = {
      system: longText(1500),
      messages: [
        conversation[0],
        conversation[1],
        { role: 'user', content: [{ type: 'text', text: 'q', cache_control: { type: 'ephemeral' } }] },
      ],
    };
    // A 1-hour mark may only precede the caller's 5-minute mark.
    const r = insertCacheBreakpoints(fiveMinuteLast, options({ ttl: '1h' }));
    assert.deepEqual(r.added, ['system']);
    assert.deepEqual((r.body.system as Block[])[0].cache_control, { type: 'ephemeral', ttl: '1h' });
  });

  it('never marks thinking blocks or empty text', () => {
    const body = {
      system: longText(1500),
      messages: [
        conversation[0],
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'text', text: 'It grants 25 days.' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'More?' },
            { type: 'text', text: '' },
          ],
        },
      ],
    };
    const r = insertCacheBreakpoints(body, options());
    assert.deepEqual(marks(r.body), ['system0', 'm2.0']);
  });

  it("uses the model's minimum cacheable length", () => {
    const min = minCacheableTokens(tokensConfigSchema.parse({}).promptCache);
    assert.equal(min('claude-3-5-haiku-20241022'), 2048);
    assert.equal(min('claude-haiku-4-5'), 4096);
    assert.equal(min('claude-sonnet-4-20250514'), 1024);
  });
});

describe('prompt-cache stage', () => {
  it('shapes Anthropic requests when enabled and leaves OpenAI bodies (prompt_cache_key included) as they are', async () => {
    const config = tokensConfigSchema.parse({ promptCache: { anthropicBreakpoints: true } }).promptCache;
    const stage = promptCacheStage(config);
    const upstream = jsonUpstream(undefined);
    const a = chatCtx({
      dialect: 'anthropic',
      body: {
        model: 'claude-sonnet-4-20250514',
        max_tokens: 10,
        system: longText(1500),
        messages: conversation,
      },
    });
    await compose([stage, upstream])(a);
    assert.equal(a.responseHeaders['x-sluice-cache-breakpoints'], 'system,conversation');
    const body = {
      model: 'gpt-4o',
      prompt_cache_key: 'tenant-42',
      messages: [{ role: 'system', content: longText(1500) }, ...conversation],
    };
    const o = chatCtx({ body });
    await compose([stage, upstream])(o);
    assert.equal(o.body, body);
    assert.equal(o.body.prompt_cache_key, 'tenant-42');
    assert.equal(typeof o.promptPrefix, 'string');
    const off = promptCacheStage(tokensConfigSchema.parse({}).promptCache);
    const untouched = chatCtx({
      dialect: 'anthropic',
      body: { model: 'claude-sonnet-4-20250514', system: longText(1500), messages: conversation },
    });
    const before = untouched.body;
    await compose([off, upstream])(untouched);
    assert.equal(untouched.body, before, 'off by default');
  });
});

describe('prompt-cache stage on requests too small to be cached', () => {
  const pc = tokensConfigSchema.parse({}).promptCache;
  const overHttp = (body: Record<string, unknown>) => {
    const rawBody = new TextEncoder().encode(JSON.stringify(body));
    return createContext({
      dialect: 'openai',
      route: 'chat',
      headers: {},
      body: JSON.parse(new TextDecoder().decode(rawBody)) as Record<string, unknown>,
      rawBody,
      signal: new AbortController().signal,
      timeoutMs: 60_000,
    });
  };

  it('hashes no prefix for a request under 1,024 bytes, and one for a long request', async () => {
    const stage = promptCacheStage(pc);
    const upstream = jsonUpstream(undefined);
    const short = overHttp({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello.' }] });
    await compose([stage, upstream])(short);
    assert.equal(short.promptPrefix, undefined);
    assert.equal(short.body, short.clientBody, 'the request is left as sent');
    const long = overHttp({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: longText(1500) },
        { role: 'user', content: 'Say hello.' },
      ],
    });
    await compose([stage, upstream])(long);
    assert.equal(long.promptPrefix, prefixFingerprint('openai', long.body));
  });

  it('still samples a small request the provider billed 1,024+ tokens (image parts), hashing it then', async () => {
    const stage = promptCacheStage(pc);
    const monitor = new PromptCacheMonitor({ minRequests: 1, threshold: 0.5, window: 10 });
    const body = {
      model: 'gpt-4o-mini',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            { type: 'image_url', image_url: { url: 'https://example.com/b.png' } },
          ],
        },
      ],
    };
    const asked = (text: string) => {
      const copy = structuredClone(body);
      (copy.messages[0].content[0] as { text: string }).text = text;
      return overHttp(copy);
    };
    for (const ctx of [asked('Compare these.'), asked('Compare these.'), asked('Which is older?')]) {
      await compose([stage, jsonUpstream(undefined)])(ctx);
      assert.equal(ctx.promptPrefix, undefined);
      monitor.observer(ctx, monitorRow('pics', 1600, 0));
    }
    const [caller] = monitor.stats().callers;
    assert.equal(caller?.user, 'pics');
    assert.equal(caller?.eligible_requests, 3);
    assert.equal(caller?.distinct_prefixes, 2, 'the monitor hashed each body: two distinct prompts');
  });
});

const monitorRow = (user: string, prompt: number, cached: number): LedgerRow => ({
  ts: 0,
  requestId: 'r',
  user,
  route: 'chat',
  requestedModel: 'gpt-4o-mini',
  model: 'gpt-4o-mini',
  inputTokens: prompt - cached,
  cacheReadTokens: cached,
  cacheWriteTokens: 0,
  outputTokens: 10,
  usageEstimated: false,
  costUsd: 0.01,
  costAvoidedUsd: 0,
  promptCacheSavedUsd: 0,
  cache: 'miss',
  latencyMs: 1,
  status: 200,
  outcome: 'ok',
  stream: false,
});

describe('prompt-cache monitor', () => {
  const row = (user: string, prompt: number, cached: number): LedgerRow => ({
    ts: 0,
    requestId: 'r',
    user,
    route: 'chat',
    requestedModel: 'gpt-4o',
    model: 'gpt-4o',
    inputTokens: prompt - cached,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: 10,
    usageEstimated: false,
    costUsd: 0.01,
    costAvoidedUsd: 0,
    promptCacheSavedUsd: cached * 1.25e-6,
    cache: 'miss',
    latencyMs: 1,
    status: 200,
    outcome: 'ok',
    stream: false,
  });

  it('flags a caller whose prefixes keep changing, not one whose prefix is stable and cached', () => {
    const monitor = new PromptCacheMonitor({ minRequests: 20, threshold: 0.1, window: 50 });
    for (let i = 0; i < 30; i++) {
      // Timestamp first: a new prefix every call, no cache hits.
      const changing = chatCtx({
        body: {
          model: 'gpt-4o',
          messages: [{ role: 'system', content: `Now: ${i}. ${longText(1500)}` }, conversation[0]],
        },
      });
      monitor.observer(changing, row('drifter', 2000, 0));
      const stable = chatCtx({
        body: {
          model: 'gpt-4o',
          messages: [
            { role: 'system', content: longText(1500) },
            { role: 'user', content: `question ${i}` },
          ],
        },
      });
      monitor.observer(stable, row('steady', 2000, i === 0 ? 0 : 1920));
    }
    const stats = monitor.stats();
    assert.deepEqual(stats.low_hit_rate, ['drifter']);
    const drifter = stats.callers.find((c) => c.user === 'drifter')!;
    assert.equal(drifter.distinct_prefixes, 30);
    assert.match(drifter.warning!, /prefixes keep changing/);
    const steady = stats.callers.find((c) => c.user === 'steady')!;
    assert.equal(steady.distinct_prefixes, 1);
    assert.ok(steady.cached_token_ratio > 0.9);
    assert.ok(steady.prompt_cache_saved_usd > 0);
  });

  it("ignores short prompts (below the providers' 1,024-token minimum)", () => {
    const monitor = new PromptCacheMonitor({ minRequests: 1, threshold: 0.5, window: 10 });
    monitor.observer(chatCtx(), row('tiny', 200, 0));
    assert.deepEqual(monitor.stats().callers, []);
  });

  it('fingerprints only the leading content', () => {
    const a = prefixFingerprint('openai', {
      messages: [
        { role: 'system', content: longText(1500) },
        { role: 'user', content: 'one' },
      ],
    });
    const b = prefixFingerprint('openai', {
      messages: [
        { role: 'system', content: longText(1500) },
        { role: 'user', content: 'two' },
      ],
    });
    const c = prefixFingerprint('openai', {
      messages: [
        { role: 'system', content: `x${longText(1500)}` },
        { role: 'user', content: 'one' },
      ],
    });
    assert.equal(a, b);
    assert.notEqual(a, c);
  });
});
