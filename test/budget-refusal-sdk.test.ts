import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { SluiceError } from '../src/errors.js';
import { errorHeaders } from '../src/errors.js';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * A spent budget is not cured by waiting: the official SDKs (default retries on) must raise at
 * once instead of sleeping until the reset. They obey `x-should-retry: false`.
 */
describe('a budget refusal through the official SDKs', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ cost: { budgets: { users: { alice: { dailyUsd: 0.0001 } } } } });
    // Spend alice's budget with ordinary calls until the gateway refuses one.
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sluice-user': 'alice' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `Tell me a long story, part ${i}` }],
          max_tokens: 50,
        }),
      });
      await res.arrayBuffer();
      if (res.status === 429) return;
    }
    assert.fail('the budget was never spent');
  });
  after(() => gw.close());

  /** A fetch that counts the attempts the SDK makes and keeps the last response's headers. */
  function countingFetch() {
    const seen = { attempts: 0, headers: new Headers() };
    const fetchFn = async (input: string | URL | Request, init?: RequestInit) => {
      seen.attempts++;
      const res = await fetch(input, init);
      seen.headers = res.headers;
      return res;
    };
    return { seen, fetchFn };
  }

  function assertNoRetryHeaders(headers: Headers) {
    assert.equal(headers.get('x-should-retry'), 'false');
    assert.equal(headers.get('retry-after'), null, 'no Retry-After on a refusal waiting cannot cure');
    const reset = headers.get('x-sluice-budget-reset');
    assert.ok(reset && Date.parse(reset) > Date.now(), `reset time in the future: ${reset}`);
  }

  it('openai SDK: 429 budget_exceeded raises after one attempt, with the reset time in the message', async () => {
    const { seen, fetchFn } = countingFetch();
    const client = new OpenAI({
      baseURL: gw.v1,
      apiKey: 'anything',
      maxRetries: 3,
      fetch: fetchFn,
      defaultHeaders: { 'x-sluice-user': 'alice' },
    });
    const started = Date.now();
    const err = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 50 })
      .then(
        () => assert.fail('expected a refusal'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.code, 'budget_exceeded');
    assert.match(err.message, /resets at \d{4}-\d\d-\d\dT/);
    assert.equal(seen.attempts, 1, 'the SDK did not retry');
    assert.ok(Date.now() - started < 5_000);
    assertNoRetryHeaders(seen.headers);
  });

  it('anthropic SDK: the same refusal raises at once', async () => {
    const { seen, fetchFn } = countingFetch();
    const client = new Anthropic({
      baseURL: gw.url,
      apiKey: 'anything',
      maxRetries: 3,
      fetch: fetchFn,
      defaultHeaders: { 'x-sluice-user': 'alice' },
    });
    const err = await client.messages
      .create({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 50,
        messages: [{ role: 'user', content: 'Hi' }],
      })
      .then(
        () => assert.fail('expected a refusal'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof Anthropic.RateLimitError, String(err));
    assert.equal(seen.attempts, 1, 'the SDK did not retry');
    const body = err.error as { error?: { code?: string; reset_at?: string } };
    assert.equal(body.error?.code, 'budget_exceeded');
    assertNoRetryHeaders(seen.headers);
  });

  it('retryable refusals keep their Retry-After; budget refusals drop it', () => {
    const queueFull = new SluiceError('queue_full', 'queue is full', { retryAfterSeconds: 2.2 });
    assert.deepEqual(errorHeaders(queueFull), { 'retry-after': '3' });
    const spent = new SluiceError('budget_exceeded', 'spent', {
      retryable: false,
      retryAfterSeconds: 40_000,
      headers: { 'retry-after': '40000', 'x-sluice-budget-reset': '2026-01-01T00:00:00.000Z' },
    });
    assert.deepEqual(errorHeaders(spent), {
      'x-should-retry': 'false',
      'x-sluice-budget-reset': '2026-01-01T00:00:00.000Z',
    });
  });
});
