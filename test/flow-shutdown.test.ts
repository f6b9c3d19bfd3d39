import assert from 'node:assert/strict';
import { afterEach, describe, mock, test } from 'node:test';
import { SluiceError } from '../src/errors.js';
import { flowConfigSchema } from '../src/flow/config.js';
import { LimiterRegistry } from '../src/flow/limiters.js';
import { queueStage } from '../src/flow/queue-stage.js';
import { DrainTracker, handleTermination, shutdownStage } from '../src/flow/shutdown.js';
import type { Reply, RequestContext, StreamReply } from '../src/pipeline/types.js';
import { chatContext, controlledStream, drain, flush, jsonReply } from './flow-helpers.js';

afterEach(() => mock.timers.reset());

function manualUpstream() {
  const calls: Array<(reply: Reply) => void> = [];
  return { calls, next: () => new Promise<Reply>((resolve) => calls.push(resolve)) };
}

describe('graceful shutdown', () => {
  test('stops accepting (503 shutting_down) and finishes in-flight and queued requests', async () => {
    const tracker = new DrainTracker();
    const config = flowConfigSchema.parse({ defaults: { maxConcurrency: 1, maxQueue: 10 } });
    const queue = queueStage({ limiters: new LimiterRegistry(config), upstreamOf: () => 'up', config });
    const gate = shutdownStage(tracker);
    const upstream = manualUpstream();
    const run = (ctx: RequestContext) => gate(ctx, () => queue(ctx, upstream.next));
    const accepted = [run(chatContext()), run(chatContext()), run(chatContext())];
    await flush();
    assert.equal(tracker.active, 3);
    assert.equal(upstream.calls.length, 1, 'one in flight, two queued');

    let drained: { drained: boolean; active: number } | undefined;
    void tracker.drain(30_000).then((r) => {
      drained = r;
    });
    await assert.rejects(run(chatContext()), (e: unknown) => {
      assert.ok(e instanceof SluiceError, 'SluiceError');
      assert.equal(e.code, 'shutting_down');
      assert.equal(e.status, 503);
      return true;
    });
    for (let i = 0; i < 3; i++) {
      upstream.calls[i](jsonReply());
      await flush();
      await flush();
    }
    await Promise.all(accepted);
    await flush();
    assert.deepEqual(drained, { drained: true, active: 0 });
  });

  test('a stream counts until its last chunk', async () => {
    const tracker = new DrainTracker();
    const gate = shutdownStage(tracker);
    const s = controlledStream();
    const reply = (await gate(chatContext(), async () => s.reply)) as StreamReply;
    assert.equal(tracker.active, 1);
    const reading = drain(reply);
    s.end();
    await reading;
    assert.equal(tracker.active, 0);
  });

  test('the grace period ends the wait with the count of unfinished requests', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const tracker = new DrainTracker();
    const gate = shutdownStage(tracker);
    void gate(chatContext(), () => new Promise<Reply>(() => {}));
    const result = tracker.drain(5000);
    mock.timers.tick(5000);
    assert.deepEqual(await result, { drained: false, active: 1 });
  });

  test('on the signal: stop listening, drain, close, exit 0', async () => {
    const tracker = new DrainTracker();
    const steps: string[] = [];
    const finish = tracker.begin();
    let exited: (code: number) => void = () => {};
    const exitCode = new Promise<number>((resolve) => {
      exited = resolve;
    });
    const uninstall = handleTermination({
      tracker,
      graceMs: 10_000,
      signals: ['SIGUSR2'],
      stopListening: () => {
        steps.push('stop listening');
      },
      close: async () => {
        steps.push('close');
      },
      exit: (code) => {
        steps.push(`exit ${code}`);
        exited(code);
      },
    });
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      await flush();
      assert.equal(tracker.accepting, false);
      assert.deepEqual(steps, ['stop listening'], 'waits for the request in flight');
      finish();
      assert.equal(await exitCode, 0);
      assert.deepEqual(steps, ['stop listening', 'close', 'exit 0']);
    } finally {
      uninstall();
    }
  });
});
