import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PriceBook } from '../src/cost/prices.js';
import { compose } from '../src/pipeline/compose.js';
import { ComplexityRouter } from '../src/route/complexity.js';
import { complexityRouteStage, estimateModelFor } from '../src/route/complexity-stage.js';
import { routingConfigSchema } from '../src/route/config.js';
import { chatCtx, jsonUpstream } from './cost-helpers.js';

const router = new ComplexityRouter(routingConfigSchema.parse({}));

async function route(text: string, options: { model?: string; history?: unknown[]; tools?: unknown[] } = {}) {
  const ctx = chatCtx({
    body: {
      model: options.model ?? 'auto',
      messages: [...(options.history ?? []), { role: 'user', content: text }],
      ...(options.tools ? { tools: options.tools } : {}),
    },
  });
  const upstream = jsonUpstream({ inputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 1 });
  await compose([complexityRouteStage(router), upstream])(ctx);
  return {
    model: ctx.model,
    sentModel: ctx.body.model,
    header: ctx.responseHeaders,
    // The rule that decided, as the client sees it in x-sluice-route (`auto->gpt-4o; rule=…`).
    rule: /; rule=([^;]+)/.exec(ctx.responseHeaders['x-sluice-route'] ?? '')?.[1],
  };
}

describe('routing by complexity (the seed signals)', () => {
  const cases: Array<[string, 'gpt-4o-mini' | 'gpt-4o', string]> = [
    ['Hello!', 'gpt-4o-mini', 'greeting'],
    ['你好，今天怎么样？', 'gpt-4o-mini', 'greeting'],
    ['thanks a lot', 'gpt-4o-mini', 'greeting'],
    ['yes', 'gpt-4o-mini', 'yes-no'],
    ['好的', 'gpt-4o-mini', 'yes-no'],
    ['12*7', 'gpt-4o-mini', 'arithmetic'],
    ['what is 3.5 + 4?', 'gpt-4o-mini', 'arithmetic'],
    ['Translate "good morning" into French', 'gpt-4o-mini', 'short-translation'],
    ['翻译：我爱你', 'gpt-4o-mini', 'short-translation'],
    ['What is the capital of France?', 'gpt-4o-mini', 'default'],
    ['Write code that parses a CSV file in Python', 'gpt-4o', 'code-or-proof'],
    ['Here is my stack trace, please help', 'gpt-4o', 'code-or-proof'],
    ['请帮我写一段代码', 'gpt-4o', 'code-or-proof'],
    ['Analyze and compare these two designs for me', 'gpt-4o', 'complex-signals'],
    ['为什么这个架构更好？请分析', 'gpt-4o', 'complex-signals'],
    ['hi, can you debug this function for me?', 'gpt-4o', 'code-or-proof'],
  ];
  for (const [text, expected, rule] of cases) {
    it(`${JSON.stringify(text)} → ${expected} (${rule})`, async () => {
      const r = await route(text);
      assert.equal(r.model, expected);
      assert.equal(r.sentModel, expected, 'the body sent upstream names the chosen model');
      assert.equal(r.rule, rule);
      assert.equal(r.header['x-sluice-route'], `auto->${expected}; rule=${rule}`);
      assert.equal(r.header['x-sluice-model'], expected);
    });
  }

  it('a long message goes to the strong model', async () => {
    const r = await route(
      `Please read this and tell me what you think. ${'The river runs to the sea. '.repeat(40)}`,
    );
    assert.equal(r.model, 'gpt-4o');
    assert.equal(r.rule, 'long-message');
  });

  it('a long context (over 8000 tokens) goes to the strong model even for a short question', async () => {
    const history = Array.from({ length: 20 }, (_, i) => ({
      role: i % 2 ? 'assistant' : 'user',
      content: `Chapter ${i}. ${'Once upon a time there was a small village by the river. '.repeat(40)}`,
    }));
    const r = await route('ok', { history });
    assert.equal(r.model, 'gpt-4o');
    assert.equal(r.rule, 'long-context');
  });

  it('never overrides an explicit model', async () => {
    const r = await route('Write code that proves the theorem step by step', { model: 'gpt-4o-mini' });
    assert.equal(r.model, 'gpt-4o-mini');
    assert.equal(r.rule, undefined);
    assert.equal(r.header['x-sluice-route'], undefined);
  });
});

describe('routing config', () => {
  it('takes custom aliases and rules, first match wins', async () => {
    const custom = new ComplexityRouter(
      routingConfigSchema.parse({
        aliases: {
          smart: {
            cheap: 'claude-3-5-haiku-latest',
            strong: 'claude-sonnet-4-20250514',
            default: 'strong',
            rules: [
              { name: 'tools', use: 'strong', when: { hasTools: true } },
              { name: 'short', use: 'cheap', when: { maxChars: 20 } },
            ],
          },
        },
      }),
    );
    const decide = (text: string, hasTools = false) =>
      custom.decide('smart', { text, hasTools, contextTokens: () => 0 });
    assert.deepEqual(decide('hi'), {
      alias: 'smart',
      model: 'claude-3-5-haiku-latest',
      use: 'cheap',
      rule: 'short',
    });
    assert.equal(decide('hi', true)?.rule, 'tools');
    assert.equal(decide('a question that is longer than twenty characters')?.rule, 'default');
    assert.equal(
      custom.decide('auto', { text: 'hi', hasTools: false, contextTokens: () => 0 }),
      undefined,
      'only configured aliases route',
    );
  });

  it('rejects invalid rules at boot', () => {
    assert.throws(() =>
      routingConfigSchema.parse({
        aliases: { a: { cheap: 'x', strong: 'y', rules: [{ name: 'r', use: 'cheap', when: {} }] } },
      }),
    );
    assert.throws(
      () =>
        new ComplexityRouter(
          routingConfigSchema.parse({
            aliases: {
              a: { cheap: 'x', strong: 'y', rules: [{ name: 'r', use: 'cheap', when: { pattern: '(' } }] },
            },
          }),
        ),
      /routing\.aliases\.a\.rules\[0\]\.when\.pattern is not a valid regular expression/,
    );
  });

  it('prices an alias as its dearer model for the budget reservation', () => {
    const estimate = estimateModelFor(router, new PriceBook());
    assert.equal(estimate(chatCtx({ model: 'auto' })), 'gpt-4o');
    assert.equal(estimate(chatCtx({ model: 'gpt-4o-mini' })), 'gpt-4o-mini');
  });
});
