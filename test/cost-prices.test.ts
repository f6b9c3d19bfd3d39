import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calcPrice } from '@pydantic/genai-prices';
import { costConfigSchema } from '../src/cost/config.js';
import { type PricedCost, costOf, maxCostUsd, toNano } from '../src/cost/cost.js';
import { PriceBook } from '../src/cost/prices.js';
import type { Usage } from '../src/pipeline/types.js';
import { StreamUsageMeter } from '../src/tokens/stream-usage.js';
import { normaliseUsage, type Usage as UsageDetail } from '../src/dialect/index.js';

const book = new PriceBook();

function priced(usage: Usage, model: string): PricedCost {
  const c = costOf(usage, book.lookup(model));
  assert.equal(c.unpriced, false, `${model} should be priced`);
  return c as PricedCost;
}

/** Compare USD amounts to the nano-dollar. */
const near = (actual: number, expected: number, what: string) =>
  assert.equal(toNano(actual), toNano(expected), `${what}: ${actual} vs ${expected}`);

/** The same usage priced by the library on its own (input_tokens = all input, as it expects). */
function libraryTotal(u: UsageDetail, model: string): number {
  const r = calcPrice(
    {
      input_tokens: u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens,
      cache_read_tokens: u.cacheReadTokens,
      cache_write_tokens: u.cacheWriteTokens,
      output_tokens: u.outputTokens,
    },
    model,
  );
  assert.ok(r);
  return r.total_price;
}

describe('cost golden values (list prices: gpt-4o $2.50/$1.25 cached/$10; Claude Sonnet 4 $3/$0.30 read/$3.75 write/$15)', () => {
  it('OpenAI usage with cached tokens (prompt_tokens_details.cached_tokens)', () => {
    const usage = normaliseUsage('openai', {
      prompt_tokens: 2006,
      completion_tokens: 300,
      total_tokens: 2306,
      prompt_tokens_details: { cached_tokens: 1920 },
    })!;
    const c = priced(usage, 'gpt-4o');
    near(c.inputUsd, 0.000215, 'uncached input 86 × $2.50/M');
    near(c.cacheReadUsd, 0.0024, 'cached 1920 × $1.25/M');
    near(c.outputUsd, 0.003, 'output 300 × $10/M');
    near(c.totalUsd, 0.005615, 'total');
    near(c.promptCacheSavedUsd, 0.0024, 'saved 1920 × ($2.50 − $1.25)/M');
    near(c.totalUsd, libraryTotal(usage, 'gpt-4o'), 'same as genai-prices');
  });

  it('Anthropic usage with a cache write (cache_creation_input_tokens)', () => {
    const usage = normaliseUsage('anthropic', {
      input_tokens: 21,
      cache_creation_input_tokens: 188086,
      cache_read_input_tokens: 0,
      output_tokens: 393,
    })!;
    const c = priced(usage, 'claude-sonnet-4-20250514');
    near(c.inputUsd, 0.000063, 'input 21 × $3/M');
    near(c.cacheWriteUsd, 0.7053225, 'write 188086 × $3.75/M');
    near(c.outputUsd, 0.005895, 'output 393 × $15/M');
    near(c.totalUsd, 0.7112805, 'total');
    near(c.promptCacheSavedUsd, -0.1410645, 'a write costs 25% more than input');
    near(c.totalUsd, libraryTotal(usage, 'claude-sonnet-4-20250514'), 'same as genai-prices');
  });

  it('Anthropic usage with a cache read (cache_read_input_tokens)', () => {
    const usage = normaliseUsage('anthropic', {
      input_tokens: 21,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 188086,
      output_tokens: 393,
    })!;
    const c = priced(usage, 'claude-sonnet-4-20250514');
    near(c.cacheReadUsd, 0.0564258, 'read 188086 × $0.30/M');
    near(c.totalUsd, 0.0623838, 'total');
    near(c.promptCacheSavedUsd, 0.5078322, 'saved 188086 × $2.70/M');
    near(c.totalUsd, libraryTotal(usage, 'claude-sonnet-4-20250514'), 'same as genai-prices');
  });

  it('Anthropic 1-hour cache writes at their own rate ($6/M on Sonnet 4)', () => {
    const usage = normaliseUsage('anthropic', {
      input_tokens: 50,
      cache_creation_input_tokens: 3000,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      output_tokens: 10,
    })!;
    near(
      priced(usage, 'claude-sonnet-4-20250514').totalUsd,
      0.01605,
      '50×3 + 1000×3.75 + 2000×6 + 10×15 per M',
    );
  });

  it('streamed calls cost the same as the same call unstreamed', () => {
    const meter = new StreamUsageMeter('anthropic');
    meter.feed(
      Buffer.from(
        'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":21,"cache_creation_input_tokens":0,"cache_read_input_tokens":188086,"output_tokens":1}}}\n\n' +
          'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":393}}\n\n',
      ),
    );
    near(priced(meter.usage()!, 'claude-sonnet-4-20250514').totalUsd, 0.0623838, 'stream total');
    const openai = new StreamUsageMeter('openai');
    openai.feed(
      Buffer.from(
        'data: {"choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1920}}}\n\ndata: [DONE]\n\n',
      ),
    );
    near(priced(openai.usage()!, 'gpt-4o').totalUsd, 0.005615, 'stream total');
  });

  it('long-context tiers follow the data set (Gemini 2.5 Pro over 200k input tokens)', () => {
    const small: UsageDetail = {
      inputTokens: 10_000,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 1000,
    };
    const large: UsageDetail = {
      inputTokens: 300_000,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 1000,
    };
    const ps = book.lookup('gemini-2.5-pro')!;
    assert.ok(ps.ratesFor(300_000).input > ps.ratesFor(10_000).input);
    near(priced(small, 'gemini-2.5-pro').totalUsd, libraryTotal(small, 'gemini-2.5-pro'), 'small');
    near(priced(large, 'gemini-2.5-pro').totalUsd, libraryTotal(large, 'gemini-2.5-pro'), 'large');
  });
});

describe('prices', () => {
  it('an unknown model is unpriced, never $0', () => {
    assert.equal(book.lookup('my-private-model-7b'), undefined);
    assert.deepEqual(
      costOf({ inputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 10 }, undefined),
      {
        unpriced: true,
      },
    );
  });

  it('config overrides price models the data set lacks (exact names and globs), with tiers', () => {
    const config = costConfigSchema.parse({
      prices: {
        'qwen-plus': { inputPerMTok: 0.4, outputPerMTok: 1.2, cacheReadPerMTok: 0.08 },
        'my-llama-*': {
          inputPerMTok: 0.2,
          outputPerMTok: 0.6,
          tiers: [{ aboveInputTokens: 32_000, inputPerMTok: 0.4, outputPerMTok: 1.2 }],
        },
        'gpt-4o': { inputPerMTok: 1, outputPerMTok: 1 },
      },
    });
    const b = new PriceBook({ overrides: config.prices });
    const q = costOf(
      { inputTokens: 1000, cacheReadTokens: 1000, cacheWriteTokens: 0, outputTokens: 1000 },
      b.lookup('qwen-plus'),
    );
    assert.equal(q.unpriced, false);
    near((q as PricedCost).totalUsd, (1000 * 0.4 + 1000 * 0.08 + 1000 * 1.2) / 1e6, 'qwen-plus');
    const small = costOf(
      { inputTokens: 1000, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 100 },
      b.lookup('my-llama-3-70b'),
    );
    near((small as PricedCost).totalUsd, (1000 * 0.2 + 100 * 0.6) / 1e6, 'llama below the tier');
    const big = costOf(
      { inputTokens: 40_000, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 100 },
      b.lookup('my-llama-3-70b'),
    );
    near((big as PricedCost).totalUsd, (40_000 * 0.4 + 100 * 1.2) / 1e6, 'llama above the tier');
    assert.equal(b.lookup('gpt-4o')?.source, 'config', 'an override wins over the data set');
  });

  it('resolves dated model names to their entry and caches the lookup', () => {
    const p = book.lookup('claude-sonnet-4-20250514');
    assert.equal(p?.provider, 'anthropic');
    assert.equal(book.lookup('claude-sonnet-4-20250514'), p);
    assert.equal(book.lookup('gpt-4o-2024-08-06')?.provider, 'openai');
  });

  it('the reservation bound is never below the real cost, however input splits into cache kinds', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 8) % n;
    };
    for (const model of ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4-20250514', 'gemini-2.5-pro']) {
      const pricing = book.lookup(model)!;
      for (let i = 0; i < 200; i++) {
        const prompt = 1 + rnd(400_000);
        const read = rnd(prompt + 1);
        const write = rnd(prompt - read + 1);
        const maxOut = rnd(8000);
        const usage = {
          inputTokens: prompt - read - write,
          cacheReadTokens: read,
          cacheWriteTokens: write,
          outputTokens: rnd(maxOut + 1),
        };
        const actual = (costOf(usage, pricing) as PricedCost).totalUsd;
        const bound = maxCostUsd(pricing, prompt, maxOut, write > 0 ? '5m' : 'none');
        assert.ok(toNano(bound) >= toNano(actual), `${model}: bound ${bound} < actual ${actual}`);
      }
    }
  });
});
