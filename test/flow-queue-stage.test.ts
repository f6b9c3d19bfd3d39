import assert from 'node:assert/strict';
import { afterEach, describe, mock, test } from 'node:test';
import { SluiceError } from '../src/errors.js';
import { type FlowConfig, flowConfigSchema } from '../src/flow/config.js';
import { LimiterRegistry } from '../src/flow/limiters.js';
import { queueStage, reportUpstreamThrottle } from '../src/flow/queue-stage.js';
import type { Reply, RequestContext, StreamReply } from '../src/pipeline/types.js';
import { chatContext, controlledStream, drain, flush, jsonReply } from './flow-helpers.js';

function setup(config: unknown = {}) {
  const flow: FlowConfig = flowConfigSchema.parse(config);
  const limiters = new LimiterRegistry(flow);
  const stage = queueStage({ limiters, upstreamOf: () => 'up', config: flow });
  return { limiters, stage, limiter: () => limiters.chainFor('up', 'gpt-test')[0] };
}

/** A fake upstream whose calls the test finishes by hand. */
function manualUpstream() {
  const calls: Array<{ ctx: RequestContext; finish(reply: Reply): void; fail(error: unknown): void }> = [];
  const next = (ctx: RequestContext) => () =>
    new Promise<Reply>((resolve, reject) => calls.push({ ctx, finish: resolve, fail: reject }));
  return { calls, next };
}

async function outcome(p: Promise<unknown>): Promise<{ value?: unknown; error?: SluiceError }> {
  try {
    return { value: await p };
  } catch (error) {
    assert.ok(error instanceof SluiceError, `a SluiceError, got ${String(error)}`);
    return { error };
  }
}

const tiny = { defaults: { maxConcurrency: 1, maxQueue: 1 } };

afterEach(() => mock.timers.reset());

describe('queue stage', () => {
  test('holds the slot until a JSON reply returns, then lets the next request through', async () => {
    const { stage, limiter } = setup({ defaults: { maxConcurrency: 1, maxQueue: 10 } });
    const upstream = manualUpstream();
    const first = chatContext();
    const second = chatContext();
    const p1 = stage(first, upstream.next(first));
    const p2 = stage(second, upstream.next(second));
    await flush();
    assert.equal(upstream.calls.length, 1);
    assert.equal(limiter().stats().queued, 1);
    upstream.calls[0].finish(jsonReply());
    await p1;
    await flush();
    assert.equal(upstream.calls.length, 2);
    upstream.calls[1].finish(jsonReply());
    await p2;
    assert.equal(limiter().inFlight, 0);
    assert.equal(typeof second.queueWaitMs, 'number');
  });

  test('holds the slot for a stream until its last chunk', async () => {
    const { stage, limiter } = setup(tiny);
    const s = controlledStream();
    const reply = (await stage(chatContext(), async () => s.reply)) as StreamReply;
    assert.equal(limiter().inFlight, 1, 'still streaming');
    const reading = drain(reply);
    s.push('data: a\n\n');
    s.end();
    assert.equal(await reading, 'data: a\n\n');
    assert.equal(limiter().inFlight, 0);
  });

  test('frees a stream slot when the client leaves before reading it', async () => {
    const { stage, limiter } = setup(tiny);
    const controller = new AbortController();
    await stage(chatContext({ signal: controller.signal }), async () => controlledStream().reply);
    assert.equal(limiter().inFlight, 1);
    controller.abort();
    assert.equal(limiter().inFlight, 0);
  });

  test('queue full: 429 queue_full with Retry-After, and the upstream is not called', async () => {
    const { stage } = setup(tiny);
    const upstream = manualUpstream();
    const contexts = [chatContext({ user: 'a' }), chatContext({ user: 'b' }), chatContext({ user: 'b' })];
    const results = contexts.map((ctx) => outcome(stage(ctx, upstream.next(ctx))));
    const third = await results[2];
    assert.equal(third.error?.code, 'queue_full');
    assert.equal(third.error?.status, 429);
    assert.ok((third.error?.extra.retryAfterSeconds ?? 0) >= 1, 'Retry-After set');
    assert.equal(upstream.calls.length, 1);
    upstream.calls[0].finish(jsonReply());
    await flush();
    upstream.calls[1].finish(jsonReply());
    assert.equal((await results[1]).error, undefined);
  });

  test('a deadline passing in the queue gives queue_timeout (504); the upstream never sees it', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const { stage } = setup({ defaults: { maxConcurrency: 1, maxQueue: 10 } });
    const upstream = manualUpstream();
    const busy = chatContext();
    const late = chatContext({ timeoutMs: 1000 });
    void stage(busy, upstream.next(busy));
    const waiting = outcome(stage(late, upstream.next(late)));
    await flush();
    mock.timers.tick(1000);
    const result = await waiting;
    assert.equal(result.error?.code, 'queue_timeout');
    assert.equal(result.error?.status, 504);
    upstream.calls[0].finish(jsonReply());
    await flush();
    assert.equal(upstream.calls.length, 1);
  });

  test('a client disconnecting while queued is removed at once, with no upstream call', async () => {
    const { stage, limiter } = setup({ defaults: { maxConcurrency: 1, maxQueue: 10 } });
    const upstream = manualUpstream();
    const busy = chatContext();
    const controller = new AbortController();
    const leaving = chatContext({ signal: controller.signal });
    void stage(busy, upstream.next(busy));
    const waiting = outcome(stage(leaving, upstream.next(leaving)));
    await flush();
    assert.equal(limiter().queued, 1);
    controller.abort();
    const result = await waiting;
    assert.equal(result.error?.code, 'client_closed');
    assert.equal(limiter().queued, 0);
    upstream.calls[0].finish(jsonReply());
    await flush();
    assert.equal(upstream.calls.length, 1);
  });

  test('x-sluice-priority and the tier map order the queue', async () => {
    const { stage } = setup({
      defaults: { maxConcurrency: 1, maxQueue: 10 },
      tierPriority: { gold: 'high' },
    });
    const upstream = manualUpstream();
    const busy = chatContext();
    void stage(busy, upstream.next(busy));
    const low = chatContext({ user: 'l', headers: { 'x-sluice-priority': 'low' } });
    const normal = chatContext({ user: 'n' });
    const gold = chatContext({ user: 'g', tier: 'gold' });
    const goldButLow = chatContext({ user: 'gl', tier: 'gold', headers: { 'x-sluice-priority': 'low' } });
    for (const ctx of [low, normal, goldButLow, gold]) void stage(ctx, upstream.next(ctx));
    await flush();
    for (let i = 0; i < 4; i++) {
      upstream.calls[i].finish(jsonReply());
      await flush();
    }
    const order = upstream.calls.slice(1).map((c) => c.ctx.caller.user);
    assert.deepEqual(order, ['g', 'n', 'l', 'gl']);
  });

  test('a model with its own limit is limited separately, inside the upstream limit', async () => {
    const { stage, limiters } = setup({
      defaults: { maxConcurrency: 5, maxQueue: 10 },
      upstreams: { up: { models: { 'slow-model': { maxConcurrency: 1 } } } },
    });
    const upstream = manualUpstream();
    const slow = [chatContext({ model: 'slow-model' }), chatContext({ model: 'slow-model' })];
    const fast = [chatContext(), chatContext()];
    for (const ctx of [...slow, ...fast]) void stage(ctx, upstream.next(ctx));
    await flush();
    assert.deepEqual(
      upstream.calls.map((c) => c.ctx.model),
      ['slow-model', 'gpt-test', 'gpt-test'],
    );
    const stats = limiters.stats();
    assert.equal(stats['up/slow-model'].queued, 1);
    assert.equal(stats.up.inFlight, 3);
  });
});

describe('queue stage: adapting to provider 429s', () => {
  test('a thrown upstream 429 with Retry-After halves the limit and holds dispatch', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const { stage, limiter } = setup({ defaults: { maxConcurrency: 4, maxQueue: 10 } });
    const limited = new SluiceError('upstream_error', 'provider said 429', {
      status: 429,
      retryAfterSeconds: 3,
    });
    const result = await outcome(
      stage(chatContext(), async () => {
        throw limited;
      }),
    );
    assert.equal(result.error, limited, 'the error passes through unchanged');
    assert.equal(limiter().limit, 2);
    assert.equal(limiter().stats().holdMs, 3000);
    let called = false;
    const held = stage(chatContext(), async () => {
      called = true;
      return jsonReply();
    });
    await flush();
    assert.equal(called, false, 'held during Retry-After');
    mock.timers.tick(3000);
    await held;
    assert.equal(called, true);
  });

  test('a 429 reply (not thrown) and a rate_limited error also count; a gateway limit does not', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const { stage, limiter } = setup({ defaults: { maxConcurrency: 8, maxQueue: 10 } });
    await stage(chatContext(), async () => jsonReply(429, { 'retry-after': '0' }));
    assert.equal(limiter().limit, 4);
    mock.timers.tick(1000); // past the decrease window
    await outcome(
      stage(chatContext(), async () => {
        throw new SluiceError('rate_limited', 'provider', { retryAfterSeconds: 0 });
      }),
    );
    assert.equal(limiter().limit, 2);
    await outcome(
      stage(chatContext(), async () => {
        throw new SluiceError('rate_limited', 'ours', { details: { source: 'gateway', scope: 'upstream' } });
      }),
    );
    assert.equal(limiter().limit, 2);
    assert.equal(limiter().stats().throttled, 2);
  });

  test('the upstream stage reports each 429 attempt: the limit drops at the first, not when the request ends', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const { stage, limiter } = setup({ defaults: { maxConcurrency: 8, maxQueue: 10 } });
    const ctx = chatContext();
    let limitAfterFirst429 = 0;
    await stage(ctx, async () => {
      reportUpstreamThrottle(ctx, { sentAt: Date.now(), retryAfterMs: 0 });
      limitAfterFirst429 = limiter().limit;
      mock.timers.tick(1500); // the retry waits; then it succeeds
      return jsonReply();
    });
    assert.equal(limitAfterFirst429, 4, 'cut while the request was still retrying');
    assert.equal(limiter().limit, 4, 'the success after the retry cuts nothing more');
    assert.equal(limiter().stats().throttled, 1);
  });

  test('a 429 to an attempt sent before the last cut, or within the window, does not cut again', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const { stage, limiter } = setup({ defaults: { maxConcurrency: 8, maxQueue: 10 } });
    const upstream = manualUpstream();
    const early = chatContext();
    const earlyReply = stage(early, upstream.next(early));
    const sentEarly = Date.now();
    mock.timers.tick(10);
    const ctx = chatContext();
    await stage(ctx, async () => {
      reportUpstreamThrottle(ctx, { sentAt: Date.now(), retryAfterMs: 0 });
      return jsonReply(429, { 'retry-after': '0' });
    });
    assert.equal(limiter().limit, 4);
    mock.timers.tick(300);
    const again = chatContext();
    await stage(again, async () => {
      reportUpstreamThrottle(again, { sentAt: Date.now(), retryAfterMs: 0 });
      return jsonReply(429, { 'retry-after': '0' });
    });
    assert.equal(limiter().limit, 4, 'same window');
    // Long after the window, the early request's slow 429 arrives: it measured the old load.
    mock.timers.tick(5000);
    await flush();
    reportUpstreamThrottle(early, { sentAt: sentEarly, retryAfterMs: 0 });
    upstream.calls[0].finish(jsonReply(429, { 'retry-after': '0' }));
    await earlyReply;
    assert.equal(limiter().limit, 4, 'sent before the cut: no second cut');
    assert.equal(limiter().stats().throttled, 3);
  });

  test('AIMD end to end: injected 429s cut the concurrency reaching the upstream, then it recovers', async () => {
    const { stage, limiter } = setup({
      defaults: { maxConcurrency: 8, maxQueue: 1000 },
      aimd: { increaseEvery: 2 },
    });
    let inFlight = 0;
    let peak = 0;
    let throttling = true;
    const upstream = async (): Promise<Reply> => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await flush();
      inFlight--;
      return throttling ? jsonReply(429, { 'retry-after': '0' }) : jsonReply();
    };
    mock.timers.enable({ apis: ['Date'], now: 5_000_000 });
    const wave = async () => {
      mock.timers.tick(1000); // one decrease window per wave
      peak = 0;
      await Promise.all(Array.from({ length: 8 }, () => stage(chatContext(), upstream)));
      return { peak, limit: limiter().limit };
    };
    // Each wave (one decrease window) of 429s halves the limit once, and the next wave
    // reaches the upstream with the lower concurrency.
    assert.deepEqual(await wave(), { peak: 8, limit: 4 }, 'one cut for the first wave of 8 429s');
    assert.deepEqual(await wave(), { peak: 4, limit: 2 });
    assert.deepEqual(await wave(), { peak: 2, limit: 1 });
    assert.deepEqual(await wave(), { peak: 1, limit: 1 }, 'down to the minimum, never below');
    throttling = false;
    // Recovery is additive: +1 per 2 successes, so at most +4 per wave of 8, up to the maximum.
    let limit = 1;
    let waves = 0;
    while (limit < 8) {
      const next = await wave();
      assert.ok(next.limit > limit && next.limit <= limit + 4, `from ${limit} to ${next.limit}`);
      limit = next.limit;
      waves++;
    }
    assert.equal(waves, 2);
    assert.deepEqual(await wave(), { peak: 8, limit: 8 });
    assert.equal(limiter().stats().throttled, 32);
  });

  test('provider remaining-quota headers of 0 hold further dispatch until the reset', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 5_000_000 });
    const { stage } = setup({ defaults: { maxConcurrency: 4, maxQueue: 10 } });
    await stage(chatContext(), async () =>
      jsonReply(200, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' }),
    );
    let called = false;
    const next = stage(chatContext(), async () => {
      called = true;
      return jsonReply();
    });
    await flush();
    assert.equal(called, false);
    mock.timers.tick(2000);
    await next;
    assert.equal(called, true);
  });
});

describe('queue stage, fallback upstream', () => {
  test('a fallback is called under a permit from its own limiter; the primary permit goes back', async () => {
    const flow: FlowConfig = flowConfigSchema.parse({
      defaults: { maxConcurrency: 1, maxQueue: 1 },
    });
    const limiters = new LimiterRegistry(flow);
    const stage = queueStage({ limiters, upstreamOf: () => 'primary', config: flow });
    const primary = () => limiters.chainFor('primary', 'gpt-test')[0];
    const fallback = () => limiters.chainFor('fallback', 'gpt-test')[0];
    const ctx = chatContext();
    const seen: Array<{ primary: number; fallback: number }> = [];
    const reply = await stage(ctx, async () => {
      seen.push({ primary: primary().inFlight, fallback: fallback().inFlight });
      // The primary answered 5xx: the upstream stage moves to the fallback.
      assert.ok(ctx.queueOn, 'the queue stage offers the hook');
      await ctx.queueOn('fallback', 'gpt-test', 'failed');
      seen.push({ primary: primary().inFlight, fallback: fallback().inFlight });
      // Asking again for the upstream already held changes nothing.
      await ctx.queueOn('fallback', 'gpt-test', 'failed');
      seen.push({ primary: primary().inFlight, fallback: fallback().inFlight });
      return jsonReply();
    });
    assert.equal(reply.status, 200);
    assert.deepEqual(seen, [
      { primary: 1, fallback: 0 },
      { primary: 0, fallback: 1 },
      { primary: 0, fallback: 1 },
    ]);
    assert.equal(primary().inFlight, 0);
    assert.equal(fallback().inFlight, 0);
  });

  test('a fallback whose limiter is full waits for its own slot, not the primary one', async () => {
    const flow: FlowConfig = flowConfigSchema.parse({ defaults: { maxConcurrency: 1, maxQueue: 5 } });
    const limiters = new LimiterRegistry(flow);
    const stage = queueStage({ limiters, upstreamOf: () => 'primary', config: flow });
    const fallback = () => limiters.chainFor('fallback', 'gpt-test')[0];
    const busy = await fallback().acquire({
      priority: 'normal',
      callerId: 'other',
      deadline: Date.now() + 10_000,
      signal: new AbortController().signal,
    });
    const ctx = chatContext();
    let called = false;
    const pending = stage(ctx, async () => {
      await ctx.queueOn?.('fallback', 'gpt-test', 'failed');
      called = true;
      return jsonReply();
    });
    await flush();
    assert.equal(called, false, 'waits while the fallback is at its limit');
    assert.equal(fallback().stats().queued, 1);
    busy.release({});
    await pending;
    assert.equal(called, true);
    assert.equal(fallback().inFlight, 0);
  });
});
