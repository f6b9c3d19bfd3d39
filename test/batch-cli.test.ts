import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { type BatchSendOptions, type BatchSendResult, batchCommand } from '../src/batch/cli.js';
import { SluiceError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-batch-'));
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

const request = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content }], ...extra });

/** A fake gateway: echoes the prompt back; "fail" → 400 error body; "throw" → exception. */
function fakeGateway(behaviour: { delayTurns?: (content: string) => number } = {}) {
  const sent: Array<Record<string, unknown>> = [];
  const headers: Array<Record<string, string>> = [];
  const send = async (body: Record<string, unknown>, options: BatchSendOptions): Promise<BatchSendResult> => {
    sent.push(body);
    headers.push(options.headers);
    const content = (body.messages as Array<{ content: string }>)[0].content;
    const turns = behaviour.delayTurns?.(content) ?? 0;
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    if (content === 'fail') {
      return {
        status: 400,
        body: { error: { message: 'bad request', type: 'invalid_request_error', code: 'x' } },
      };
    }
    if (content === 'throw') throw new SluiceError('upstream_unreachable', 'no route to upstream');
    return {
      status: 200,
      body: { model: body.model, choices: [{ message: { content: content.toUpperCase() } }] },
    };
  };
  return { sent, headers, send };
}

const readOut = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('sluice batch', () => {
  test('writes one line per input line, in input order, with per-line errors', async () => {
    const { input, output } = files([
      JSON.stringify({
        custom_id: 'a',
        method: 'POST',
        url: '/v1/chat/completions',
        body: JSON.parse(request('one')),
      }),
      request('fail'),
      '{not json',
      '',
      request('throw'),
      JSON.stringify({ custom_id: 'e', body: JSON.parse(request('five')) }),
    ]);
    // Later lines finish first, so completion order is not input order.
    const gateway = fakeGateway({ delayTurns: (c) => (c === 'one' ? 20 : c === 'fail' ? 10 : 0) });
    const err = capture();
    const code = await batchCommand([input, '-o', output, '--concurrency', '4', '--quiet'], {
      send: gateway.send,
      stderr: err.stream,
      handleSigint: false,
    });
    assert.equal(code, 1, 'exit 1: some lines failed');
    const out = readOut(output);
    assert.deepEqual(
      out.map((r) => r.index),
      [0, 1, 2, 4, 5],
      'blank line skipped, others in order',
    );
    assert.equal(out[0].custom_id, 'a');
    assert.deepEqual(out[0].response, { model: 'gpt-test', choices: [{ message: { content: 'ONE' } }] });
    assert.deepEqual(out[1], {
      index: 1,
      status: 400,
      error: { message: 'bad request', type: 'invalid_request_error', code: 'x' },
    });
    assert.equal(out[2].status, 400);
    assert.match((out[2].error as { message: string }).message, /line 3 is not valid JSON/);
    assert.equal(out[3].status, 502);
    assert.deepEqual(out[3].error, { message: 'no route to upstream', code: 'upstream_unreachable' });
    assert.equal(out[4].custom_id, 'e');
    assert.equal(gateway.sent.length, 4, 'the invalid line is never sent');
    assert.match(err.text(), /5 of 5 lines done, 3 failed/);
  });

  test('an interrupted run resumes without redoing finished lines', async () => {
    const lines = Array.from({ length: 30 }, (_, i) => request(`q${i}`));
    const { input, output } = files(lines);
    const controller = new AbortController();
    const first = fakeGateway();
    const interrupting = async (body: Record<string, unknown>, options: BatchSendOptions) => {
      if (first.sent.length === 10) controller.abort();
      return first.send(body, options);
    };
    const code1 = await batchCommand([input, '-o', output, '-c', '3', '--quiet'], {
      send: interrupting,
      signal: controller.signal,
      stderr: capture().stream,
      handleSigint: false,
    });
    assert.equal(code1, 130);
    const partial = readOut(output);
    assert.ok(partial.length >= 10 && partial.length < 30, `${partial.length} lines after the interruption`);
    const partialIndexes = partial.map((r) => r.index as number);
    assert.deepEqual(
      partialIndexes,
      [...partialIndexes].sort((a, b) => a - b),
      'rewritten in order on exit',
    );

    const second = fakeGateway();
    const err = capture();
    const code2 = await batchCommand([input, '-o', output, '-c', '3', '--quiet'], {
      send: second.send,
      stderr: err.stream,
      handleSigint: false,
    });
    assert.equal(code2, 0);
    assert.equal(second.sent.length, 30 - partial.length, 'only the unfinished lines are sent');
    const done = new Set(partialIndexes);
    for (const body of second.sent) {
      const n = Number((body.messages as Array<{ content: string }>)[0].content.slice(1));
      assert.ok(!done.has(n), `line ${n} was done already`);
    }
    const out = readOut(output);
    assert.deepEqual(
      out.map((r) => r.index),
      Array.from({ length: 30 }, (_, i) => i),
    );
    assert.match(err.text(), new RegExp(`resuming: ${partial.length} of 30`));
  });

  test('a torn last line from a hard kill is redone, and the file stays valid JSONL', async () => {
    const { input, output } = files([request('a'), request('b'), request('c')]);
    writeFileSync(
      output,
      `${JSON.stringify({ index: 0, status: 200, response: { ok: 1 } })}\n{"index":1,"status":2`,
    );
    const gateway = fakeGateway();
    const code = await batchCommand([input, '-o', output, '--quiet'], {
      send: gateway.send,
      stderr: capture().stream,
      handleSigint: false,
    });
    assert.equal(code, 0);
    assert.equal(gateway.sent.length, 2);
    const out = readOut(output);
    assert.deepEqual(
      out.map((r) => r.index),
      [0, 1, 2],
    );
    assert.deepEqual(out[0].response, { ok: 1 }, 'the finished line is kept as it was');
  });

  test('--retry-failed redoes lines that ended in an error', async () => {
    const { input, output } = files([request('fine'), request('fail')]);
    await batchCommand([input, '-o', output, '--quiet'], {
      send: fakeGateway().send,
      stderr: capture().stream,
      handleSigint: false,
    });
    const again = fakeGateway();
    await batchCommand([input, '-o', output, '--quiet'], {
      send: again.send,
      stderr: capture().stream,
      handleSigint: false,
    });
    assert.equal(again.sent.length, 0, 'errors are final by default');
    const retry = fakeGateway();
    await batchCommand([input, '-o', output, '--quiet', '--retry-failed'], {
      send: retry.send,
      stderr: capture().stream,
      handleSigint: false,
    });
    assert.equal(retry.sent.length, 1);
    assert.equal(readOut(output).length, 2);
  });

  test('refuses to resume into an output written for another input', async () => {
    const { input, output } = files([JSON.stringify({ custom_id: 'x', body: JSON.parse(request('a')) })]);
    writeFileSync(output, `${JSON.stringify({ index: 0, custom_id: 'other', status: 200, response: {} })}\n`);
    const err = capture();
    const code = await batchCommand([input, '-o', output, '--quiet'], {
      send: fakeGateway().send,
      stderr: err.stream,
      handleSigint: false,
    });
    assert.equal(code, 2);
    assert.match(err.text(), /does not match the input/);
  });

  test('--model fills a missing model; streaming is turned off', async () => {
    const { input, output } = files([
      JSON.stringify({ messages: [{ role: 'user', content: 'x' }], stream: true }),
    ]);
    const gateway = fakeGateway();
    await batchCommand([input, '-o', output, '--model', 'cheap', '--quiet'], {
      send: gateway.send,
      stderr: capture().stream,
      handleSigint: false,
    });
    assert.equal(gateway.sent[0].model, 'cheap');
    assert.equal(gateway.sent[0].stream, false);
    assert.deepEqual(gateway.headers[0], { 'x-sluice-priority': 'low' }, 'batch lines go at low priority');
  });

  test('--priority sets the priority the pipeline sees', async () => {
    const { input, output } = files([request('a')]);
    const gateway = fakeGateway();
    await batchCommand([input, '-o', output, '--priority', 'high', '--quiet'], {
      send: gateway.send,
      stderr: capture().stream,
      handleSigint: false,
    });
    assert.equal(gateway.headers[0]['x-sluice-priority'], 'high');
  });

  test('shows a progress bar with rate and ETA', async () => {
    const { input, output } = files([request('a'), request('b')]);
    const err = capture();
    await batchCommand([input, '-o', output], {
      send: fakeGateway().send,
      stderr: err.stream,
      handleSigint: false,
    });
    assert.match(err.text(), /batch \|.*\| 100% \| 2\/2 \| [\d.]+\/s \| ETA \S+ \| errors 0/);
  });

  test('usage errors exit 2', async () => {
    const err = capture();
    assert.equal(await batchCommand(['in.jsonl'], { send: fakeGateway().send, stderr: err.stream }), 2);
    assert.match(err.text(), /missing -o/);
    assert.equal(
      await batchCommand(['a', '-o', 'b', '--concurrency', '0'], {
        send: fakeGateway().send,
        stderr: err.stream,
      }),
      2,
    );
  });
});
