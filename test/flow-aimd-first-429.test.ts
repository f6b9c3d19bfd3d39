import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * Issue 13 point 4, through the HTTP gateway: an upstream that answers 429 for a period while
 * 8 requests are in flight. The limit must drop at the first 429 (while every request is still
 * retrying), once for the period (shorter than the decrease window), and not again when the
 * requests that retried past the fault finally succeed.
 */
describe('AIMD reacts at the first upstream 429, once per window', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(
      {
        flow: { defaults: { maxConcurrency: 8, maxQueue: 100 }, aimd: { decreaseWindowMs: 1000 } },
        retry: { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 100 },
      },
      { latencyMs: 50, faults: { retryAfterSeconds: 0.1 } },
    );
  });
  after(() => gw.close());

  const limiter = () => {
    const upstreams = gw.sluice.gateway.flow.stats().upstreams;
    const stats = upstreams['simulated-openai'];
    assert.ok(stats, `limiter of simulated-openai in ${Object.keys(upstreams).join(', ')}`);
    return stats;
  };

  it('drops the limit while requests still retry, cuts once, and not again after the fault', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const ask = (i: number) =>
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `q ${i}` }],
      });
    // Warm the limiter up (it is made on first use) with one clean call.
    await ask(-1);
    assert.equal(limiter().limit, 8);

    gw.mock.setFaults({ rate429: 1 });
    let finished = 0;
    const requests = Array.from({ length: 8 }, (_, i) => ask(i).finally(() => finished++));
    const limitsWhileAllPending: number[] = [];
    const faultEndsAt = Date.now() + 600;
    while (Date.now() < faultEndsAt) {
      await sleep(10);
      if (finished === 0) limitsWhileAllPending.push(limiter().limit);
    }
    const throttledDuringFault = limiter().throttled;
    gw.mock.setFaults({ rate429: 0 });
    const answers = await Promise.all(requests);
    assert.equal(answers.length, 8, 'every request got through once the fault ended');

    assert.ok(throttledDuringFault >= 8, `many 429s (${throttledDuringFault})`);
    assert.ok(
      limitsWhileAllPending.includes(4),
      `limit fell to 4 before any request had spent its retries (saw ${[...new Set(limitsWhileAllPending)]})`,
    );
    assert.equal(Math.min(...limitsWhileAllPending), 4, 'one cut in the window, not one per 429');
    assert.equal(limiter().limit, 4, 'requests that retried past the 429s did not cut again after the fault');
  });
});
