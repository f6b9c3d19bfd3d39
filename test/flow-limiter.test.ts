import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { SluiceError } from '../src/errors.js';
import { ConcurrencyLimiter, type Permit } from '../src/flow/limiter.js';
import type { Priority } from '../src/pipeline/types.js';

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

const FAR = Number.POSITIVE_INFINITY;

function limiter(maxConcurrency: number, maxQueue: number, aimd: { increaseEvery?: number } = {}) {
  return new ConcurrencyLimiter({ name: 'up', maxConcurrency, maxQueue, aimd });
}

function ask(
  l: ConcurrencyLimiter,
  callerId = 'a',
  priority: Priority = 'normal',
  deadline = FAR,
  signal?: AbortSignal,
) {
  return track(l.acquire({ priority, callerId, deadline, signal }));
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

describe('concurrency and queue', () => {
  test('grants up to the limit at once, queues the rest, and hands a released slot to the next', async () => {
    const l = limiter(2, 10);
    const a = l.tryAcquire();
    const b = l.tryAcquire();
    assert.ok(a && b, 'two permits at once');
    assert.equal(l.tryAcquire(), undefined);
    const c = ask(l);
    await flush();
    assert.equal(c.settled, false);
    assert.equal(l.stats().queued, 1);
    a.release();
    await flush();
    assert.ok(c.permit, 'the queued request got the released slot');
    assert.equal(l.inFlight, 2);
    assert.equal(l.queued, 0);
    a.release(); // a second release of the same permit is ignored
    assert.equal(l.inFlight, 2);
  });

  test('a full queue answers at once with queue_full, 429 and a Retry-After', async () => {
    const l = limiter(1, 2);
    l.tryAcquire();
    const queued = [ask(l, 'a'), ask(l, 'b')];
    const refused = ask(l, 'c');
    await flush();
    assert.ok(refused.error instanceof SluiceError, 'refused with a SluiceError');
    assert.equal(refused.error.code, 'queue_full');
    assert.equal(refused.error.status, 429);
    const seconds = refused.error.extra.retryAfterSeconds;
    assert.ok(seconds !== undefined && seconds >= 1, `retry after ${seconds}`);
    assert.equal(refused.error.extra.headers?.['retry-after'], String(seconds));
    assert.match(refused.error.message, /full/);
    assert.ok(
      queued.every((q) => !q.settled),
      'queued requests still wait',
    );
    assert.equal(l.stats().rejected.queue_full, 1);
  });

  test('a deadline that passes in the queue ends the wait with queue_timeout (504) and frees the place', async () => {
    const l = limiter(1, 5);
    const holder = l.tryAcquire()!;
    const waiting = ask(l, 'a', 'normal', Date.now() + 500);
    mock.timers.tick(499);
    await flush();
    assert.equal(waiting.settled, false);
    mock.timers.tick(1);
    await flush();
    assert.equal(waiting.error?.code, 'queue_timeout');
    assert.equal(waiting.error?.status, 504);
    assert.equal(l.queued, 0);
    holder.release();
    assert.equal(l.inFlight, 0, 'the timed-out request was never dispatched');
    assert.equal(l.stats().rejected.queue_timeout, 1);
  });

  test('a deadline already past is refused without queueing', async () => {
    const l = limiter(1, 5);
    l.tryAcquire();
    const late = ask(l, 'a', 'normal', Date.now() - 1);
    await flush();
    assert.equal(late.error?.code, 'queue_timeout');
    assert.equal(l.queued, 0);
  });

  test('a client that disconnects leaves the queue at once and is never dispatched', async () => {
    const l = limiter(1, 5);
    const holder = l.tryAcquire()!;
    const controller = new AbortController();
    const leaving = ask(l, 'a', 'normal', FAR, controller.signal);
    const staying = ask(l, 'b');
    await flush();
    controller.abort();
    await flush();
    assert.equal(leaving.error?.code, 'client_closed');
    assert.equal(l.queued, 1);
    holder.release();
    await flush();
    assert.ok(staying.permit, 'the next waiter got the slot');
    assert.equal(l.stats().rejected.client_closed, 1);
  });

  test('an already aborted request is refused', async () => {
    const l = limiter(1, 5);
    const gone = ask(l, 'a', 'normal', FAR, AbortSignal.abort());
    await flush();
    assert.equal(gone.error?.code, 'client_closed');
  });
});

describe('priority and fairness', () => {
  test('higher priority goes first; first come first served within a priority', async () => {
    const l = limiter(1, 10);
    const holder = l.tryAcquire()!;
    const order: string[] = [];
    const submit = (name: string, priority: Priority) =>
      l.acquire({ priority, callerId: 'same', deadline: FAR }).then((p) => {
        order.push(name);
        p.release();
      });
    const all = [
      submit('low1', 'low'),
      submit('normal1', 'normal'),
      submit('high1', 'high'),
      submit('low2', 'low'),
      submit('high2', 'high'),
    ];
    holder.release();
    await Promise.all(all);
    assert.deepEqual(order, ['high1', 'high2', 'normal1', 'low1', 'low2']);
  });

  test('a caller with one request waits about one slot while another has 1,000 queued', async () => {
    const l = limiter(1, 2000);
    const holder = l.tryAcquire()!;
    const order: string[] = [];
    const submit = (caller: string, i: number) =>
      l.acquire({ priority: 'normal', callerId: caller, deadline: FAR }).then((p) => {
        order.push(`${caller}${i}`);
        p.release();
      });
    const all: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) all.push(submit('noisy', i));
    all.push(submit('quiet', 0));
    holder.release();
    await Promise.all(all);
    const position = order.indexOf('quiet0');
    assert.ok(position >= 0 && position <= 1, `quiet caller served at position ${position}`);
    // The noisy caller's own requests keep their order.
    const noisy = order.filter((n) => n.startsWith('noisy'));
    assert.deepEqual(
      noisy,
      Array.from({ length: 1000 }, (_, i) => `noisy${i}`),
    );
  });

  test('three callers share slots round-robin', async () => {
    const l = limiter(1, 100);
    const holder = l.tryAcquire()!;
    const order: string[] = [];
    const all: Promise<void>[] = [];
    for (const caller of ['a', 'a', 'a', 'b', 'b', 'c']) {
      all.push(
        l.acquire({ priority: 'normal', callerId: caller, deadline: FAR }).then((p) => {
          order.push(caller);
          p.release();
        }),
      );
    }
    holder.release();
    await Promise.all(all);
    assert.deepEqual(order, ['a', 'b', 'c', 'a', 'b', 'a']);
  });

  test('when the queue is full, a quiet caller displaces the noisy caller’s newest request', async () => {
    const l = limiter(1, 3);
    l.tryAcquire();
    const noisy = [ask(l, 'noisy'), ask(l, 'noisy'), ask(l, 'noisy')];
    const quiet = ask(l, 'quiet');
    await flush();
    assert.equal(quiet.settled, false, 'quiet caller got a place');
    assert.equal(noisy[2].error?.code, 'queue_full', 'the newest noisy request was shed');
    assert.ok(!noisy[0].settled && !noisy[1].settled, 'older noisy requests keep their places');
    // A second noisy request now finds the queue full and no one to displace fairly.
    const more = ask(l, 'noisy');
    await flush();
    assert.equal(more.error?.code, 'queue_full');
  });

  test('when the queue is full, a high-priority request displaces a low one', async () => {
    const l = limiter(1, 2);
    l.tryAcquire();
    const low = [ask(l, 'x', 'low'), ask(l, 'y', 'low')];
    const high = ask(l, 'z', 'high');
    await flush();
    assert.equal(high.settled, false);
    assert.equal(low.filter((t) => t.error?.code === 'queue_full').length, 1);
  });

  test('under saturation, high-priority median wait is at most 1/5 of low-priority median wait', async () => {
    // Simulated clock: 4 slots, 10 ms per call (capacity 0.4/ms), one arrival per ms (2.5x
    // capacity), one in five high priority, for 3 simulated seconds.
    const l = limiter(4, 200);
    const waits: Record<'high' | 'low', number[]> = { high: [], low: [] };
    let answered = 0;
    let refused = 0;
    let sent = 0;
    for (let t = 0; t < 3000; t++) {
      const priority = t % 5 === 0 ? 'high' : 'low';
      sent++;
      l.acquire({ priority, callerId: `c${t % 7}`, deadline: Date.now() + 60_000 }).then(
        (permit) => {
          waits[priority].push(permit.waitedMs);
          setTimeout(() => {
            permit.release();
            answered++;
          }, 10);
        },
        () => {
          refused++;
        },
      );
      mock.timers.tick(1);
      await flush();
    }
    for (let i = 0; i < 300; i++) {
      mock.timers.tick(10);
      await flush();
    }
    assert.equal(answered + refused, sent, 'every request got an answer');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const high = median(waits.high);
    const low = median(waits.low);
    assert.ok(waits.high.length === 600, 'no high-priority request was refused');
    assert.ok(high * 5 <= low, `high median ${high} ms vs low median ${low} ms`);
  });
});

describe('adapting to the provider', () => {
  test('a 429 halves the limit once per round and holds dispatch until Retry-After passes', async () => {
    const l = limiter(8, 100);
    const permits = Array.from({ length: 8 }, () => l.tryAcquire()!);
    const waiting = ask(l);
    permits[0].release({ throttled: true, retryAfterMs: 2000 });
    permits[1].release({ throttled: true, retryAfterMs: 1000 }); // same round: no second cut
    assert.equal(l.limit, 4);
    assert.equal(l.stats().holdMs, 2000);
    permits.slice(2, 6).forEach((p) => {
      p.release();
    });
    await flush();
    assert.equal(l.inFlight, 2);
    assert.equal(waiting.settled, false, 'held although slots are free');
    assert.equal(l.tryAcquire(), undefined);
    mock.timers.tick(1999);
    await flush();
    assert.equal(waiting.settled, false);
    mock.timers.tick(1);
    await flush();
    assert.ok(waiting.permit, 'dispatched once Retry-After passed');
    // A 429 on a permit granted after the cut lowers the limit again.
    waiting.permit.release({ throttled: true });
    assert.equal(l.limit, 2);
    assert.equal(l.stats().throttled, 3);
  });

  test('recovers gradually: +1 per run of successes, up to the configured maximum', async () => {
    const l = limiter(4, 10, { increaseEvery: 3 });
    l.tryAcquire()!.release({ throttled: true, retryAfterMs: 0 });
    assert.equal(l.limit, 2);
    const succeed = (n: number) => {
      for (let i = 0; i < n; i++) l.tryAcquire()!.release();
    };
    succeed(2);
    assert.equal(l.limit, 2);
    succeed(1);
    assert.equal(l.limit, 3);
    succeed(3);
    assert.equal(l.limit, 4);
    succeed(30);
    assert.equal(l.limit, 4);
  });

  test('never goes below the minimum', async () => {
    const l = limiter(2, 10);
    for (let i = 0; i < 5; i++) {
      mock.timers.tick(10_000);
      l.tryAcquire()!.release({ throttled: true, retryAfterMs: 1 });
    }
    assert.equal(l.limit, 1);
  });

  test('a provider reporting no remaining requests holds dispatch until its reset', async () => {
    const l = limiter(2, 10);
    l.tryAcquire()!.release({ remaining: { requests: 0, resetRequestsMs: 1500 } });
    assert.equal(l.tryAcquire(), undefined);
    const waiting = ask(l);
    mock.timers.tick(1500);
    await flush();
    assert.ok(waiting.permit, 'dispatched after the reset');
    assert.equal(l.limit, 2, 'quota exhaustion is not a 429: no cut');
  });

  test('failed calls neither raise nor lower the limit', () => {
    const l = limiter(4, 10, { increaseEvery: 1 });
    l.tryAcquire()!.release({ throttled: true, retryAfterMs: 0 });
    assert.equal(l.limit, 2);
    l.tryAcquire()!.release({ failed: true });
    assert.equal(l.limit, 2);
  });
});

describe('stats', () => {
  test('report queue depth by priority, in flight, limit, waits and rejections', async () => {
    const l = limiter(1, 1);
    const holder = l.tryAcquire()!;
    const waiting = ask(l, 'a', 'high');
    ask(l, 'b', 'high'); // refused: full
    await flush();
    let s = l.stats();
    assert.equal(s.queued, 1);
    assert.deepEqual(s.queuedByPriority, { high: 1, normal: 0, low: 0 });
    assert.equal(s.inFlight, 1);
    assert.equal(s.limit, 1);
    assert.equal(s.rejected.queue_full, 1);
    mock.timers.tick(40);
    holder.release();
    await flush();
    waiting.permit!.release();
    s = l.stats();
    assert.equal(s.admitted, 2);
    assert.equal(s.waitMsP50, 0);
    assert.equal(s.waitMsP99, 40);
  });

  test('rejects invalid options', () => {
    assert.throws(() => limiter(0, 1), TypeError);
    assert.throws(() => limiter(1, -1), TypeError);
  });
});
