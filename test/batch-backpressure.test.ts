import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { openGateway, simulatedUpstreams } from '../src/app.js';
import { AdaptiveConcurrency } from '../src/batch/adaptive.js';
import { type BatchSend, type BatchSendResult, batchCommand } from '../src/batch/cli.js';
import { gatewaySender, openInProcessGateway } from '../src/batch/gateway.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import { createLogger } from '../src/observe/log.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-batch-bp-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;

function files(lines: string[]) {
  const n = fileCount++;
  const input = join(dir, `in-${n}.jsonl`);
  const output = join(dir, `out-${n}.jsonl`);
  writeFileSync(input, `${lines.join('\n')}\n`);
  return { input, output };
}

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

const readOut = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const chatLine = (content: string) =>
  JSON.stringify({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] });

describe('sluice batch under gateway backpressure', () => {
  test('200 lines at the default concurrency against a queue of 4 all finish 200 (--config)', async () => {
    // The newcomer's setup: a slow provider, a gateway that runs 2 calls and queues 4, a batch of 8.
    // Slow enough that the first wave of 8 is in flight together even on a loaded machine.
    const mock = await startMockUpstream({ latencyMs: 80 });
    const configFile = join(dir, 'queue-of-4.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        dataDir: join(dir, 'data-queue'),
        upstreams: simulatedUpstreams(mock.url),
        flow: { defaults: { maxConcurrency: 2, maxQueue: 4 } },
      }),
    );
    try {
      // Unique per run: with REDIS_URL set the cache outlives the run, and hits would dodge the queue.
      const run = Math.random().toString(36).slice(2);
      const lines = Array.from({ length: 200 }, (_, i) =>
        chatLine(`question ${i} (${run}): what is ${i} squared?`),
      );

      const { input, output } = files(lines);
      let queueFull = 0;
      const err = capture();
      const code = await batchCommand([input, '-o', output, '--config', configFile, '--quiet'], {
        // The CLI's own gateway, watched: how often did the gateway refuse a line as queue_full?
        open: async (options) => {
          const opened = await openInProcessGateway(options);
          const send: BatchSend = async (body, sendOptions) => {
            const reply = await opened.send(body, sendOptions);
            if (reply.status === 429 && JSON.stringify(reply.body).includes('queue_full')) queueFull++;
            return reply;
          };
          return { send, close: opened.close };
        },
        stderr: err.stream,
        handleSigint: false,
      });
      assert.equal(code, 0, err.text());
      const out = readOut(output);
      assert.equal(out.length, 200);
      assert.ok(
        out.every((r) => r.status === 200),
        'every line answered 200',
      );
      assert.deepEqual(
        out.map((r) => r.index),
        Array.from({ length: 200 }, (_, i) => i),
      );
      assert.ok(queueFull > 0, 'the gateway pushed back with queue_full');
      assert.equal(mock.counts().total, 200, 'each line reached the provider once');
      assert.match(err.text(), /backpressure: \d+ busy refusals .* concurrency went down to [1-4]\b/);
      assert.match(err.text(), /200 of 200 lines done, 0 failed/);
    } finally {
      await mock.close();
    }
  });

  test('OpenAI batch format in (chat, embeddings, messages) and OpenAI batch output out; resume sends nothing', async () => {
    const mock = await startMockUpstream();
    const opened = await openGateway({
      config: validateConfig({ logLevel: 'silent', upstreams: simulatedUpstreams(mock.url) }),
      memory: true,
    });
    try {
      const { input, output } = files([
        JSON.stringify({
          custom_id: 'chat-1',
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] },
        }),
        JSON.stringify({
          custom_id: 'emb-1',
          method: 'POST',
          url: '/v1/embeddings',
          body: { model: 'text-embedding-3-small', input: ['one', 'two'] },
        }),
        JSON.stringify({
          custom_id: 'msg-1',
          method: 'POST',
          url: '/v1/messages',
          body: {
            model: 'claude-3-5-haiku-latest',
            max_tokens: 64,
            messages: [{ role: 'user', content: 'hi' }],
          },
        }),
        JSON.stringify({ custom_id: 'bad-url', method: 'POST', url: '/v1/images', body: { prompt: 'x' } }),
      ]);
      const send = gatewaySender(opened.gateway);
      const code = await batchCommand([input, '-o', output, '--quiet'], {
        send,
        stderr: capture().stream,
        handleSigint: false,
      });
      assert.equal(code, 1, 'the bad url line failed');
      const [chat, emb, msg, bad] = readOut(output);
      for (const [record, customId, line] of [
        [chat, 'chat-1', 1],
        [emb, 'emb-1', 2],
        [msg, 'msg-1', 3],
      ] as const) {
        assert.equal(record.id, `batch_req_line_${line}`);
        assert.equal(record.custom_id, customId);
        assert.equal(record.error, null);
        const response = record.response as { status_code: number; request_id: string; body: unknown };
        assert.equal(response.status_code, 200);
        assert.match(response.request_id, /\S/);
      }
      const chatBody = (chat.response as { body: { object: string; choices: unknown[] } }).body;
      assert.equal(chatBody.object, 'chat.completion');
      const embBody = (emb.response as { body: { data: Array<{ embedding: number[] }> } }).body;
      assert.equal(embBody.data.length, 2);
      const msgBody = (msg.response as { body: { type: string; role: string } }).body;
      assert.equal(msgBody.type, 'message');
      assert.deepEqual(mock.counts().byPath, {
        '/v1/chat/completions': 1,
        '/v1/embeddings': 1,
        '/v1/messages': 1,
      });
      assert.equal(bad.custom_id, 'bad-url');
      assert.equal(bad.response, null);
      assert.equal((bad.error as { code: string }).code, 'invalid_request');
      assert.match((bad.error as { message: string }).message, /"url" must be one of/);

      const before = readFileSync(output, 'utf8');
      const again = await batchCommand([input, '-o', output, '--quiet'], {
        send,
        stderr: capture().stream,
        handleSigint: false,
      });
      assert.equal(again, 1);
      assert.equal(mock.counts().total, 3, 'a resumed run matches lines by id and sends nothing');
      assert.equal(readFileSync(output, 'utf8'), before);
    } finally {
      await opened.close();
      await mock.close();
    }
  });

  test('--key is sent as the caller key; a budget refusal is final, never retried', async () => {
    const mock = await startMockUpstream();
    const opened = await openGateway({
      config: validateConfig({ logLevel: 'silent', upstreams: simulatedUpstreams(mock.url) }),
      memory: true,
    });
    try {
      const { key } = await opened.gateway.economy.keys.create({ user: 'batcher', dailyUsd: 0.000_01 });
      const gatewaySend = gatewaySender(opened.gateway);
      const sent: Array<Record<string, string>> = [];
      const send: BatchSend = (body, options) => {
        sent.push(options.headers);
        return gatewaySend(body, options);
      };
      const lines = Array.from({ length: 12 }, (_, i) =>
        chatLine(`budget line ${i} ${'words '.repeat(200)}`),
      );

      const anonymous = files(lines);
      await batchCommand([anonymous.input, '-o', anonymous.output, '--quiet'], {
        send,
        stderr: capture().stream,
        handleSigint: false,
      });
      assert.ok(
        readOut(anonymous.output).every((r) => r.status === 401),
        'a key exists, so a batch without --key is refused',
      );

      sent.length = 0;
      const { input, output } = files(lines);
      const err = capture();
      const code = await batchCommand([input, '-o', output, '--key', key, '--quiet'], {
        send,
        stderr: err.stream,
        handleSigint: false,
      });
      assert.equal(code, 1);
      assert.equal(sent[0].authorization, `Bearer ${key}`);
      const out = readOut(output);
      const budget = out.filter(
        (r) => (r.error as { code?: string } | undefined)?.code === 'budget_exceeded',
      );
      assert.ok(budget.length > 0, 'the tiny budget refuses lines');
      assert.ok(
        out.every((r) => r.status === 200 || r.status === 429),
        'lines are answered or refused by the budget, not 401',
      );
      assert.equal(
        sent.length,
        lines.length,
        'every line was sent exactly once: budget refusals are not retried',
      );
      assert.doesNotMatch(err.text(), /busy refusals/);
    } finally {
      await opened.close();
      await mock.close();
    }
  });

  test('a 429 with Retry-After is waited out and retried; x-should-retry: false is final', async () => {
    const attempts = new Map<string, number[]>();
    const send: BatchSend = async (body): Promise<BatchSendResult> => {
      const content = (body.messages as Array<{ content: string }>)[0].content;
      const times = attempts.get(content) ?? [];
      times.push(Date.now());
      attempts.set(content, times);
      if (content === 'busy' && times.length < 3) {
        return {
          status: 429,
          headers: { 'retry-after-ms': '120' },
          body: { error: { message: 'queue full', type: 'rate_limit_error', code: 'queue_full' } },
        };
      }
      if (content === 'never') {
        return {
          status: 429,
          headers: { 'x-should-retry': 'false' },
          body: { error: { message: 'no', type: 'rate_limit_error', code: 'quota' } },
        };
      }
      return { status: 200, body: { ok: content } };
    };
    const { input, output } = files([chatLine('busy'), chatLine('never'), chatLine('fine')]);
    const err = capture();
    const code = await batchCommand([input, '-o', output, '--quiet'], {
      send,
      stderr: err.stream,
      handleSigint: false,
    });
    assert.equal(code, 1);
    const busy = attempts.get('busy') ?? [];
    assert.equal(busy.length, 3);
    assert.ok(busy[1] - busy[0] >= 110 && busy[2] - busy[1] >= 110, `Retry-After honoured: ${busy}`);
    assert.equal(attempts.get('never')?.length, 1);
    const out = readOut(output);
    assert.equal(out[0].status, 200);
    assert.equal(out[1].status, 429);
    assert.match(err.text(), /backpressure: 2 busy refusals/);
  });

  test('--max-attempts bounds the retries of a line that stays refused', async () => {
    let calls = 0;
    const send: BatchSend = async () => {
      calls++;
      return { status: 503, headers: { 'retry-after-ms': '1' }, body: { error: { message: 'overloaded' } } };
    };
    const { input, output } = files([chatLine('x')]);
    const err = capture();
    const code = await batchCommand([input, '-o', output, '--max-attempts', '3', '--quiet'], {
      send,
      stderr: err.stream,
      handleSigint: false,
    });
    assert.equal(code, 1);
    assert.equal(calls, 3);
    assert.equal(readOut(output)[0].status, 503);
    assert.match(err.text(), /1 lines gave up after 3 attempts/);
  });
});

describe('AdaptiveConcurrency (AIMD)', () => {
  test('halves once per round, floors at 1, grows by one after a run of successes, pauses for Retry-After', () => {
    let now = 1_000;
    const c = new AdaptiveConcurrency({ ceiling: 8, increaseEvery: 3, now: () => now });
    const round = c.round;
    c.backpressure(round, 500);
    c.backpressure(round, 200);
    assert.equal(c.limit, 4, 'refusals of one burst halve once');
    assert.equal(c.pauseRemainingMs(), 500, 'the longest wait asked wins');
    c.backpressure(c.round, undefined);
    c.backpressure(c.round, undefined);
    c.backpressure(c.round, undefined);
    assert.equal(c.limit, 1, 'never below one');
    now += 2_000;
    assert.equal(c.pauseRemainingMs(), 0);
    c.success();
    c.success();
    assert.equal(c.limit, 1);
    c.success();
    assert.equal(c.limit, 2);
    for (let i = 0; i < 30; i++) c.success();
    assert.equal(c.limit, 8, 'never above the ceiling');
    assert.equal(c.decreases, 4);
  });
});

describe('closing the batch gateway with the semantic cache on', () => {
  test('a run that ends before the embedding model has loaded closes without an error', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const mock = await startMockUpstream();
    const opened = await openGateway({
      config: validateConfig({
        logLevel: 'warn',
        semantic: { enabled: true },
        upstreams: simulatedUpstreams(mock.url),
      }),
      memory: true,
      log: createLogger('warn', [], sink),
    });
    try {
      const reply = await opened.gateway.call('openai', 'chat', JSON.parse(chatLine('quick one')));
      assert.equal(reply.status, 200);
    } finally {
      // Closed while the use-lite warm-up is still loading the model (~1 s).
      await opened.close();
      await mock.close();
    }
    assert.deepEqual(lines, [], 'nothing logged: no "use-lite embedder closed" error');
  });
});
