import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SluiceError } from '../src/errors.js';
import { type BatchProgress, runBatch } from '../src/batch/run.js';

/** Resolve after `turns` trips through the event loop: completion order differs from input order. */
const turns = (n: number) =>
  new Promise<void>((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : setImmediate(step, left - 1));
    step(n);
  });

describe('runBatch', () => {
  test('returns results in input order with per-item errors', async () => {
    const items = [5, 1, 4, 2, 3, 0];
    const completed: number[] = [];
    const results = await runBatch(
      items,
      async (n, i) => {
        await turns(n);
        completed.push(i);
        if (n === 4) throw new SluiceError('upstream_error', 'boom', { status: 502 });
        if (n === 2) throw new Error('plain failure');
        return n * 10;
      },
      { concurrency: 6 },
    );
    assert.notDeepEqual(completed, [0, 1, 2, 3, 4, 5], 'completion order differs from input order');
    assert.deepEqual(results, [
      { ok: true, value: 50 },
      { ok: true, value: 10 },
      { ok: false, error: { message: 'boom', code: 'upstream_error', status: 502 } },
      { ok: false, error: { message: 'plain failure', code: undefined, status: undefined } },
      { ok: true, value: 30 },
      { ok: true, value: 0 },
    ]);
  });

  test('keeps at most `concurrency` calls in flight, and uses them all', async () => {
    let inFlight = 0;
    let peak = 0;
    await runBatch(
      Array.from({ length: 50 }, (_, i) => i),
      async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await turns(1 + (i % 3));
        inFlight--;
      },
      { concurrency: 7 },
    );
    assert.equal(peak, 7);
  });

  test('reports progress after every item', async () => {
    const seen: BatchProgress[] = [];
    await runBatch(
      [1, 2, 3],
      async (n) => {
        if (n === 2) throw new Error('x');
      },
      { concurrency: 1, onProgress: (p) => seen.push(p) },
    );
    assert.deepEqual(seen, [
      { done: 1, failed: 0, total: 3 },
      { done: 2, failed: 1, total: 3 },
      { done: 3, failed: 1, total: 3 },
    ]);
  });

  test('an abort stops starting new items; the ones in flight finish; the rest come back cancelled', async () => {
    const controller = new AbortController();
    const reported: number[] = [];
    const results = await runBatch(
      Array.from({ length: 10 }, (_, i) => i),
      async (i) => {
        if (i === 2) controller.abort();
        await turns(2);
        return i;
      },
      { concurrency: 2, signal: controller.signal, onResult: (i) => reported.push(i) },
    );
    assert.deepEqual(results.slice(0, 3), [
      { ok: true, value: 0 },
      { ok: true, value: 1 },
      { ok: true, value: 2 },
    ]);
    assert.ok(
      results.slice(3).every((r) => !r.ok && r.error.code === 'cancelled'),
      'later items cancelled',
    );
    assert.deepEqual(
      reported.sort((a, b) => a - b),
      [0, 1, 2],
    );
  });

  test('rejects a bad concurrency', async () => {
    await assert.rejects(
      runBatch([1], async () => 1, { concurrency: 0 }),
      TypeError,
    );
  });
});
