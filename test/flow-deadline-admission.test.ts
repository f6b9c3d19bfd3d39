import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import OpenAI from 'openai';
import { SluiceError } from '../src/errors.js';
import { FairQueue, FairQueueNode } from '../src/flow/fair-queue.js';
import { ConcurrencyLimiter, type Permit } from '../src/flow/limiter.js';
import { RecentServiceTimes } from '../src/flow/service-times.js';
import { startTestGateway } from './helpers.js';

/** Let promise callbacks run (setImmediate is not faked). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Tracked {
  permit?: Permit;
  error?: SluiceError;
  settled: boolean;
}

function track(p: Promise<Permit>): Tracked {
  const t: Tracked = { settled: false };
  p.then(
    (permit) => {
      t.permit = permit;
      t.settled = true;
    },
    (error: SluiceError) => {
      t.error = error;
      t.settled = true;
    },
  );
  return t;
}

function limiter(maxConcurrency: number, maxQueue = 100, admission: Record<string, unknown> = {}) {
  return new ConcurrencyLimiter({
    name: 'up',
    maxConcurrency,
    maxQueue,
    aimd: { enabled: false },
    deadlineAdmission: { minSamples: 5, ...admission },
  });
}

/** Serve `times` requests one after another, each holding its slot `ms` (fake clock). */
function serve(l: ConcurrencyLimiter, ms: number, times = 5, outcome: { failed?: boolean } = {}): void {
  for (let i = 0; i < times; i++) {
    const permit = l.tryAcquire();
    assert.ok(permit, 'a free slot');
    mock.timers.tick(ms);
    permit.release(outcome);
  }
}

const ask = (l: ConcurrencyLimiter, deadlineInMs: number, callerId = 'a') =>
  track(l.acquire({ priority: 'normal', callerId, deadline: Date.now() + deadlineInMs }));

describe('deadline-aware admission (fake clock)', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  test('recent service times: the quantile of fresh samples, unknown below minSamples, forgotten when old', () => {
    const times = new RecentServiceTimes({ quantile: 0.9, window: 10, minSamples: 3, maxAgeMs: 10_000 });
    const now = Date.now();
    times.record(100, now);
    times.record(200, now);
    assert.equal(times.estimate(now), undefined, 'two samples are not enough');
    for (const ms of [300, 400, 500, 600, 700, 800, 900, 1000]) times.record(ms, now);
    assert.equal(times.estimate(now), 900, 'p90 of 100..1000');
    times.record(5000, now); // the window keeps the last 10: 200..1000, 5000
    assert.equal(times.estimate(now), 1000);
    assert.equal(times.estimate(now + 10_001), undefined, 'all samples aged out');
  });

  test('a request with less deadline left than the recent p90 is refused at once with 504 deadline_unreachable, even with a free slot', async () => {
    const l = limiter(4);
    serve(l, 500);
    assert.equal(l.tryAcquire(Date.now() + 400), undefined, 'the fast path does not grant it');
    const refused = ask(l, 400);
    await flush();
    assert.ok(refused.error instanceof SluiceError);
    assert.equal(refused.error.code, 'deadline_unreachable');
    assert.equal(refused.error.status, 504);
    assert.match(refused.error.message, /400 ms of its deadline left.*500 ms \(p90\).*not sent upstream/);
    assert.equal(refused.error.extra.details?.reason, 'deadline_unreachable');
    assert.equal(l.inFlight, 0, 'no slot was taken');
    assert.equal(l.stats().rejected.deadline_unreachable, 1);
    assert.equal(l.stats().serviceMsQuantile, 500);

    const viable = l.tryAcquire(Date.now() + 600);
    assert.ok(viable, 'a request with enough time left gets the free slot');
  });

  test('before enough samples exist, every request is admitted (cold start)', () => {
    const l = limiter(4);
    serve(l, 500, 4);
    assert.ok(l.tryAcquire(Date.now() + 10), 'four samples: no estimate yet');
  });

  test('a request whose expected queue wait plus p90 exceeds its deadline gets 429 with an honest Retry-After', async () => {
    const l = limiter(1);
    serve(l, 1000);
    l.tryAcquire(); // the slot is busy
    // Each waiter ahead costs about 1 s of slot time; 4 waiting from another caller.
    const queued = [
      ask(l, 60_000, 'heavy'),
      ask(l, 60_000, 'heavy'),
      ask(l, 60_000, 'heavy'),
      ask(l, 60_000, 'heavy'),
    ];
    await flush();
    // A newcomer from the heavy caller is 5th: ~5 s wait + 1 s service > 3 s.
    const refused = ask(l, 3000, 'heavy');
    await flush();
    assert.ok(refused.error instanceof SluiceError);
    assert.equal(refused.error.code, 'queue_full');
    assert.equal(refused.error.status, 429);
    assert.equal(refused.error.extra.details?.reason, 'wait_exceeds_deadline');
    assert.match(refused.error.message, /holds about 5000 ms of waiting/);
    // 5 s + 1 s needed, 3 s available: it would have needed 3 s more.
    assert.equal(refused.error.extra.headers?.['retry-after'], '3');
    assert.equal(l.stats().rejected.wait_exceeds_deadline, 1);
    assert.equal(l.queued, 4, 'the refused request took no place');
    // Round-robin: a quiet caller is served after one heavy waiter, so 3 s is enough for it.
    const quiet = ask(l, 3500, 'quiet');
    await flush();
    assert.equal(quiet.settled, false, 'the quiet caller waits in the queue');
    assert.equal(l.queued, 5);
    assert.ok(queued.every((q) => !q.settled));
  });

  test('a waiter whose remaining deadline drops below p90 leaves the queue with 504 before its deadline, and the slot goes to the next', async () => {
    const l = limiter(1);
    serve(l, 500);
    const holder = l.tryAcquire()!;
    const doomed = ask(l, 2000, 'a');
    const next = ask(l, 60_000, 'b');
    await flush();
    mock.timers.tick(1499); // 501 ms left: still enough
    await flush();
    assert.equal(doomed.settled, false);
    mock.timers.tick(2); // 499 ms left, the upstream needs 500
    await flush();
    assert.ok(doomed.error instanceof SluiceError);
    assert.equal(doomed.error.code, 'deadline_unreachable');
    assert.match(doomed.error.message, /after waiting 1501 ms in the queue/);
    holder.release();
    await flush();
    assert.ok(next.permit, 'the slot went to the waiter that can still make it');
    assert.equal(l.stats().rejected.queue_timeout, 0);
  });

  test('when its turn comes after the upstream slowed down, the waiter is refused and the slot goes to the next', async () => {
    const l = limiter(2, 100, { window: 5 });
    serve(l, 500);
    const first = l.tryAcquire()!;
    l.tryAcquire(); // both slots busy
    const late = ask(l, 5000, 'a');
    const next = ask(l, 60_000, 'b');
    await flush();
    mock.timers.tick(3000);
    first.release(); // a 3 s call: the p90 of the last five is now 3 s, `late` has 2 s left
    await flush();
    assert.ok(late.error instanceof SluiceError, 'refused instead of taking the slot');
    assert.equal(late.error.code, 'deadline_unreachable');
    assert.match(late.error.message, /2000 ms of its deadline left after waiting 3000 ms/);
    assert.ok(next.permit, 'the next waiter got the slot');
    assert.equal(l.inFlight, 2);
  });

  test('failed calls do not move the estimate: neither early disconnects nor calls cut at their deadline', () => {
    const l = limiter(1);
    serve(l, 500);
    serve(l, 10, 5, { failed: true });
    serve(l, 3000, 5, { failed: true });
    assert.equal(l.stats().serviceMsQuantile, 500);
  });

  test('an estimate that refuses everyone is probed: after a second without a permit, one request with a free slot goes through', async () => {
    const l = limiter(2);
    serve(l, 2000); // the estimate says 2 s
    assert.ok(l.tryAcquire(), 'a call without a deadline just started: permits are being granted');
    const refused = ask(l, 1500);
    await flush();
    assert.equal(refused.error?.code, 'deadline_unreachable', 'refused right after the last grant');
    mock.timers.tick(2000);
    const probe = l.tryAcquire(Date.now() + 1500);
    assert.ok(probe, 'no permit for 2 s (the estimate): this one probes');
    assert.equal(l.tryAcquire(Date.now() + 1500), undefined, 'only one probe per interval');
    mock.timers.tick(300);
    probe.release(); // the upstream is fast again
    assert.equal(l.stats().serviceMsQuantile, 2000, 'one fast sample does not outvote five slow ones yet');
  });

  test('a slowdown is forgotten once its samples age out, so requests are admitted again', () => {
    const l = limiter(2, 100, { maxSampleAgeMs: 60_000 });
    serve(l, 8000);
    assert.ok(l.tryAcquire(), 'a call without a deadline keeps permits being granted');
    assert.equal(l.tryAcquire(Date.now() + 2000), undefined, 'refused while the slowdown is recent');
    mock.timers.tick(60_001);
    assert.equal(l.stats().serviceMsQuantile, 0, 'no estimate once the samples are old');
    assert.ok(l.tryAcquire(Date.now() + 2000), 'admitted again');
  });

  test('disabled: nothing is refused for its deadline', () => {
    const l = limiter(1, 100, { enabled: false });
    serve(l, 500);
    assert.ok(l.tryAcquire(Date.now() + 10));
    assert.equal(l.stats().serviceMsQuantile, 0);
  });
});

describe('fair queue: waiters served before a newcomer', () => {
  test('counts higher levels, its own lane, and one turn per other lane per place it holds', () => {
    const q = new FairQueue<FairQueueNode>(3);
    for (let i = 0; i < 10; i++) q.push(new FairQueueNode(), 1, 'heavy');
    q.push(new FairQueueNode(), 1, 'light');
    q.push(new FairQueueNode(), 0, 'vip');
    assert.equal(q.servedBefore(1, 'newcomer'), 1 + 2, 'vip, then one turn each for heavy and light');
    assert.equal(q.servedBefore(1, 'light'), 1 + 1 + 2, 'vip, its own waiter, two heavy turns');
    assert.equal(q.servedBefore(1, 'heavy'), 1 + 10 + 1, 'vip, its ten, the one light waiter');
    assert.equal(q.servedBefore(0, 'vip'), 1);
    assert.equal(q.servedBefore(2, 'x'), 12);
  });
});

describe('deadline-aware admission through the gateway', () => {
  test('a request whose deadline the slow upstream cannot meet is refused at once, with the reason, and never reaches the upstream', async () => {
    const gw = await startTestGateway({ flow: { deadlineAdmission: { minSamples: 3 } } }, { latencyMs: 300 });
    try {
      const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
      const ask = (content: string, timeoutMs: number) =>
        client.chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
          { headers: { 'x-sluice-timeout-ms': String(timeoutMs) } },
        );
      // Three answers teach the gateway the upstream needs ~300 ms.
      for (const content of ['one', 'two', 'three']) await ask(content, 5000);
      assert.equal(gw.mock.counts().attempts, 3);
      // A call in flight: permits are being granted, so no probe is due (see the limiter).
      const viable = ask('five', 5000);
      await new Promise((resolve) => setTimeout(resolve, 50));

      const started = performance.now();
      const refused = await ask('four', 150).then(
        () => assert.fail('the request should be refused'),
        (error: unknown) => error,
      );
      const elapsedMs = performance.now() - started;
      assert.ok(refused instanceof OpenAI.APIError, `an API error, got ${String(refused)}`);
      assert.equal(refused.status, 504);
      assert.equal(refused.code, 'deadline_unreachable');
      assert.match(
        refused.message,
        /1\d\d ms of its deadline left, less than the \d+ ms \(p90\).*not sent upstream/,
      );
      assert.ok(elapsedMs < 120, `answered at once (${Math.round(elapsedMs)} ms), not at the deadline`);
      const answered = await viable;
      assert.equal(answered.choices[0].message.role, 'assistant', 'a viable request is still served');
      assert.equal(gw.mock.counts().attempts, 4, 'only the viable request reached the upstream');
      const sentUpstream = gw.mock.received.map((r) => JSON.stringify(r.body));
      assert.ok(sentUpstream.some((body) => body.includes('five')));
      assert.ok(
        !sentUpstream.some((body) => body.includes('four')),
        'the refused request made no upstream call',
      );
    } finally {
      await gw.close();
    }
  });
});
