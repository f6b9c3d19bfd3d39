import assert from 'node:assert/strict';
import { afterEach, describe, mock, test } from 'node:test';
import { SluiceError } from '../src/errors.js';
import { flowConfigSchema } from '../src/flow/config.js';
import { roughRequestTokens } from '../src/flow/estimate-tokens.js';
import { createFlowControl } from '../src/flow/index.js';
import { RateLimiter } from '../src/flow/rate-limit.js';
import { rateLimitStage } from '../src/flow/rate-limit-stage.js';
import type { StreamReply } from '../src/pipeline/types.js';
import { StoreUnavailableError } from '../src/store/errors.js';
import { MemoryCounterStore } from '../src/store/memory.js';
import { chatContext, controlledStream, drain, flush, jsonReply } from './flow-helpers.js';

function limiterWith(rules: unknown[]) {
  const { rateLimits } = flowConfigSchema.parse({ rateLimits: rules });
  const store = new MemoryCounterStore();
  return { store, limiter: new RateLimiter({ rules: rateLimits, store }) };
}

async function refusal(p: Promise<unknown>): Promise<SluiceError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof SluiceError, 'a SluiceError');
    return error;
  }
  assert.fail('expected a refusal');
}

afterEach(() => mock.timers.reset());

describe('rate limit stage', () => {
  test('RPM per key: adds x-ratelimit headers, then refuses with 429 before calling the upstream', async () => {
    const { limiter } = limiterWith([{ scope: 'key', rpm: 2 }]);
    const stage = rateLimitStage({ limiter, scopes: ['key', 'user', 'team'], estimateTokens: () => 0 });
    let upstreamCalls = 0;
    const next = async () => {
      upstreamCalls++;
      return jsonReply();
    };
    const first = chatContext({ keyId: 'k1' });
    await stage(first, next);
    assert.equal(first.responseHeaders['x-ratelimit-limit-requests'], '2');
    assert.equal(first.responseHeaders['x-ratelimit-remaining-requests'], '1');
    await stage(chatContext({ keyId: 'k1' }), next);
    const error = await refusal(stage(chatContext({ keyId: 'k1' }), next));
    assert.equal(error.status, 429);
    assert.ok(error.extra.headers?.['retry-after'], 'Retry-After header');
    assert.equal(upstreamCalls, 2);
    assert.equal(stage.rejected.key, 1);
  });

  test('TPM: settles the estimate with the real usage after a JSON reply', async () => {
    const { limiter } = limiterWith([{ scope: 'user', tpm: 1000 }]);
    const stage = rateLimitStage({ limiter, scopes: ['user'], estimateTokens: () => 800 });
    const ctx = chatContext({ user: 'u' });
    await stage(ctx, async () => {
      ctx.usage = { inputTokens: 50, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 50 };
      return jsonReply();
    });
    await flush();
    // 100 used of 1000: another 800-token request fits (it would not have with the estimate kept).
    const next = chatContext({ user: 'u' });
    await stage(next, async () => jsonReply());
    assert.equal(next.responseHeaders['x-ratelimit-remaining-tokens'], '100');
  });

  test('TPM: a stream settles at its end; an error refunds the estimate', async () => {
    const { limiter } = limiterWith([{ scope: 'user', tpm: 1000 }]);
    const stage = rateLimitStage({ limiter, scopes: ['user'], estimateTokens: () => 600 });
    const streaming = chatContext({ user: 'u' });
    const s = controlledStream();
    const reply = (await stage(streaming, async () => s.reply)) as StreamReply;
    await refusal(stage(chatContext({ user: 'u' }), async () => jsonReply())); // 600 + 600 > 1000
    const reading = drain(reply);
    streaming.usage = { inputTokens: 10, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 90 };
    s.end();
    await reading;
    await flush();
    await refusal(
      stage(chatContext({ user: 'u' }), async () => {
        throw new SluiceError('upstream_unreachable', 'down');
      }),
    );
    await flush();
    const last = chatContext({ user: 'u' });
    await stage(last, async () => jsonReply());
    assert.equal(last.responseHeaders['x-ratelimit-remaining-tokens'], '300', '1000 - 100 (stream) - 600');
  });

  test('upstream scope waits for the window (within the deadline) instead of refusing', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 60_000 * 100 });
    const { limiter } = limiterWith([{ scope: 'upstream', rpm: 1 }]);
    const stage = rateLimitStage({
      limiter,
      scopes: ['upstream'],
      upstreamOf: () => 'openai',
      estimateTokens: () => 0,
      waitForUpstream: true,
    });
    await stage(chatContext(), async () => jsonReply());
    let called = false;
    const waiting = stage(chatContext({ timeoutMs: 10 * 60_000 }), async () => {
      called = true;
      return jsonReply();
    });
    for (let i = 0; i < 200 && !called; i++) {
      await flush();
      mock.timers.tick(1000);
    }
    await waiting;
    assert.equal(called, true);
    // A request whose deadline comes first is refused.
    const short = chatContext({ timeoutMs: 1000 });
    const error = await refusal(stage(short, async () => jsonReply()));
    assert.equal(error.code, 'rate_limited');
    assert.equal(stage.rejected.upstream, 1);
  });

  function unavailableStage(onStoreUnavailable?: 'closed' | 'open') {
    const failing = new MemoryCounterStore();
    failing.tryAdd = async () => {
      throw new StoreUnavailableError('store down');
    };
    const { rateLimits } = flowConfigSchema.parse({ rateLimits: [{ scope: 'user', rpm: 1 }] });
    const errors: unknown[] = [];
    const stage = rateLimitStage({
      limiter: new RateLimiter({ rules: rateLimits, store: failing }),
      scopes: ['user'],
      estimateTokens: () => 0,
      onStoreError: (e) => errors.push(e),
      onStoreUnavailable,
    });
    return { stage, errors };
  }

  test('an unreachable store refuses requests (fail closed, 503 with Retry-After) and is reported', async () => {
    const { stage, errors } = unavailableStage();
    let called = false;
    const error = await refusal(
      stage(chatContext(), async () => {
        called = true;
        return jsonReply();
      }),
    );
    assert.equal(error.code, 'store_unavailable');
    assert.equal(error.status, 503);
    assert.ok((error.extra.retryAfterSeconds ?? 0) > 0);
    assert.match(error.message, /Rate limits cannot be checked/);
    assert.equal(called, false);
    assert.equal(errors.length, 1);
  });

  test('with onStoreUnavailable open, store failures let requests through and are reported', async () => {
    const { stage, errors } = unavailableStage('open');
    await stage(chatContext(), async () => jsonReply());
    await stage(chatContext(), async () => jsonReply());
    assert.equal(errors.length, 2);
  });

  test('checks its options', () => {
    const { limiter } = limiterWith([{ scope: 'user', rpm: 1 }]);
    assert.throws(() => rateLimitStage({ limiter, scopes: [], estimateTokens: () => 0 }), TypeError);
    assert.throws(
      () => rateLimitStage({ limiter, scopes: ['upstream'], estimateTokens: () => 0 }),
      TypeError,
    );
  });
});

describe('token estimate', () => {
  test('counts prompt characters / 4 plus max output tokens', () => {
    const ctx = chatContext({
      body: {
        model: 'm',
        max_tokens: 100,
        messages: [
          { role: 'system', content: 'x'.repeat(400) },
          { role: 'user', content: [{ type: 'text', text: 'y'.repeat(40) }] },
        ],
      },
    });
    assert.equal(roughRequestTokens(ctx, 1024), 100 + 10 + 2 * 4 + 100);
    delete ctx.body.max_tokens;
    assert.equal(roughRequestTokens(ctx, 1024), 118 + 1024);
  });
});

describe('createFlowControl', () => {
  test('leaves out stages with no rules and reports stats', async () => {
    const config = flowConfigSchema.parse({ rateLimits: [{ scope: 'user', rpm: 1 }] });
    const flow = createFlowControl(config, { store: new MemoryCounterStore(), upstreamOf: () => 'up' });
    assert.ok(flow.callerRateLimitStage, 'caller stage present');
    assert.equal(flow.upstreamRateLimitStage, undefined);
    await flow.callerRateLimitStage(chatContext(), async () => jsonReply());
    await refusal(flow.callerRateLimitStage(chatContext(), async () => jsonReply()));
    await flow.queueStage(chatContext(), async () => jsonReply());
    const stats = flow.stats();
    assert.equal(stats.rateLimited.user, 1);
    assert.equal(stats.upstreams.up.admitted, 1);
    assert.equal(stats.accepting, true);
  });
});

describe('rate limit stage and caches', () => {
  test('a cache hit counts as a request but gives its reserved tokens back', async () => {
    const { limiter } = limiterWith([{ scope: 'user', rpm: 10, tpm: 1000 }]);
    const stage = rateLimitStage({ limiter, scopes: ['user'], estimateTokens: () => 700 });
    const hit = chatContext({ user: 'u' });
    await stage(hit, async () => {
      hit.cache = 'exact';
      hit.usage = { inputTokens: 300, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 300 };
      return jsonReply();
    });
    await flush();
    const next = chatContext({ user: 'u' });
    await stage(next, async () => jsonReply());
    assert.equal(next.responseHeaders['x-ratelimit-remaining-tokens'], '300', 'only the new reservation');
    assert.equal(next.responseHeaders['x-ratelimit-remaining-requests'], '8');
  });
});

describe('rate limit stage: bounded waiting', () => {
  test('no more than maxWaiting requests wait for an upstream window; the rest get 429 at once', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 60_000 * 200 });
    const { limiter } = limiterWith([{ scope: 'upstream', rpm: 1 }]);
    const stage = rateLimitStage({
      limiter,
      scopes: ['upstream'],
      upstreamOf: () => 'openai',
      estimateTokens: () => 0,
      waitForUpstream: true,
      maxWaiting: 1,
    });
    await stage(chatContext(), async () => jsonReply());
    const controller = new AbortController();
    const waiter = stage(chatContext({ signal: controller.signal, timeoutMs: 10 * 60_000 }), async () =>
      jsonReply(),
    );
    await flush();
    const error = await refusal(stage(chatContext({ timeoutMs: 10 * 60_000 }), async () => jsonReply()));
    assert.equal(error.code, 'rate_limited');
    controller.abort();
    const left = await refusal(waiter);
    assert.equal(left.code, 'client_closed', 'a waiting client that leaves stops waiting');
  });
});
