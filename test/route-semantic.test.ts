import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { createTokenEconomy } from '../src/cost/economy.js';
import type { Embedder } from '../src/embed/types.js';
import { openBackend } from '../src/store/index.js';
import { validateConfig } from '../src/config/load.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const BLACK_SCHOLES =
  'Derive the closed-form solution of the Black-Scholes PDE for a European call option, starting from the risk-neutral dynamics of the underlying.';

/** `auto->gpt-4o; rule=semantic; score=0.2409` → its parts. */
function parseRoute(header: string | null) {
  const match = /^(.+)->(.+); rule=([a-z-]+)(?:; score=(-?\d+\.\d{4}))?$/.exec(header ?? '');
  assert.ok(match, `x-sluice-route: ${header}`);
  return {
    alias: match[1],
    model: match[2],
    rule: match[3],
    score: match[4] === undefined ? undefined : Number(match[4]),
  };
}

describe('semantic auto routing through the gateway (USE-lite; one gateway for the file)', () => {
  let gw: TestGateway;
  let openai: OpenAI;
  before(async () => {
    gw = await startTestGateway({
      routing: {
        aliases: {
          // The embedder takes seconds to start: let the first requests wait for it.
          auto: { cheap: 'gpt-4o-mini', strong: 'gpt-4o', mode: 'semantic', semantic: { timeoutMs: 60_000 } },
        },
      },
    });
    openai = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
  });
  after(() => gw.close());

  const ask = async (content: string) => {
    const { data, response } = await openai.chat.completions
      .create({ model: 'auto', messages: [{ role: 'user', content }] })
      .withResponse();
    return {
      data,
      route: parseRoute(response.headers.get('x-sluice-route')),
      model: response.headers.get('x-sluice-model'),
    };
  };

  it('sends the Black-Scholes derivation to the strong model, by meaning, with its score', async () => {
    const { route, model, data } = await ask(BLACK_SCHOLES);
    assert.deepEqual([route.alias, route.model, route.rule], ['auto', 'gpt-4o', 'semantic']);
    assert.ok(route.score !== undefined && route.score > 0, `score ${route.score} favours strong`);
    assert.equal(model, 'gpt-4o');
    assert.ok(data.choices[0].message.content);
    const sent = gw.mock.received.at(-1)?.body as { model?: string } | undefined;
    assert.equal(sent?.model, 'gpt-4o', 'the upstream was asked for the strong model');
  });

  it('sends a greeting to the cheap model (by meaning when no rule catches it)', async () => {
    const semantic = await ask('Good evening, lovely to meet you!');
    assert.deepEqual([semantic.route.model, semantic.route.rule], ['gpt-4o-mini', 'semantic']);
    assert.ok(
      semantic.route.score !== undefined && semantic.route.score < 0,
      `score ${semantic.route.score}`,
    );
    // Keyword rules stay as overrides: a plain "hello" is decided by the greeting rule.
    const byRule = await ask('Hello!');
    assert.deepEqual(
      [byRule.route.model, byRule.route.rule, byRule.route.score],
      ['gpt-4o-mini', 'greeting', undefined],
    );
  });

  it('keeps the header ASCII for any prompt, and routes auto on /v1/messages too', async () => {
    const chinese = await ask('请帮我设计一个分布式缓存，并比较一致性哈希与范围分片的优缺点');
    assert.match(`${chinese.route.alias}->${chinese.route.model}`, /^auto->gpt-4o(-mini)?$/);
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
    const { data, response } = await anthropic.messages
      .create({ model: 'auto', max_tokens: 64, messages: [{ role: 'user', content: BLACK_SCHOLES }] })
      .withResponse();
    const route = parseRoute(response.headers.get('x-sluice-route'));
    assert.deepEqual([route.model, route.rule], ['gpt-4o', 'semantic']);
    assert.equal(data.type, 'message');
    assert.ok(data.content.length > 0);
  });
});

describe('the routing embedder is started only for semantic mode', () => {
  const economyWith = async (routing: unknown) => {
    const config = validateConfig({ routing });
    const backend = await openBackend({ memory: true, dataDir: '/tmp/unused' });
    let made = 0;
    const fake: Embedder = {
      id: 'fake',
      dims: 2,
      embed: async (texts) => texts.map(() => new Float32Array([1, 0])),
      close: async () => {},
    };
    const economy = createTokenEconomy(config, {
      backend,
      runAfterAuth: async () => {
        throw new Error('not used');
      },
      routingEmbedder: () => {
        made++;
        return fake;
      },
    });
    await economy.close();
    await backend.close();
    return made;
  };

  it('no embedder with the default (rules) config; one shared by all semantic aliases', async () => {
    assert.equal(await economyWith({}), 0);
    const semantic = { cheap: 'a', strong: 'b', mode: 'semantic' };
    assert.equal(await economyWith({ aliases: { auto: semantic, smart: semantic } }), 1);
  });
});
