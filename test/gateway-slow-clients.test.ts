import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_READ_TIMEOUT_MS = 2_000;
const BODY_IDLE_TIMEOUT_MS = 1_000;
/** The longest any drip may live: the read limit, Node's check interval, and slack for a busy CI box. */
const CUT_WITHIN_MS = REQUEST_READ_TIMEOUT_MS + 2_000;

interface Drip {
  /** Milliseconds from connecting to the gateway closing the connection. */
  closedAfter: Promise<number>;
  received(): string;
  stop(): void;
}

/**
 * A raw connection that sends `head` at once, then one byte of `drip` every `everyMs`,
 * never finishing its request, as a slowloris client does.
 */
function dripConnection(port: number, head: string, drip: string, everyMs: number): Drip {
  const socket: Socket = connect(port, '127.0.0.1');
  const started = Date.now();
  let received = '';
  let sent = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(drip[sent++ % drip.length]);
  }, everyMs);
  socket.on('data', (d) => {
    received += d.toString('latin1');
  });
  // Writes racing the server's close end in EPIPE/ECONNRESET: that is the cut this test wants.
  socket.on('error', () => {});
  socket.once('connect', () => socket.write(head));
  const closedAfter = new Promise<number>((resolve) =>
    socket.once('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  return {
    closedAfter,
    received: () => received,
    stop: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

describe('slow clients are cut while normal traffic is served', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({
      server: {
        headersTimeoutMs: HEADERS_TIMEOUT_MS,
        requestReadTimeoutMs: REQUEST_READ_TIMEOUT_MS,
        bodyIdleTimeoutMs: BODY_IDLE_TIMEOUT_MS,
      },
    });
  });
  after(() => gw.close());

  it('closes 20 connections dripping a byte at a time, answering others meanwhile', async () => {
    const port = gw.sluice.port;
    const headerDrips = Array.from({ length: 10 }, () =>
      dripConnection(
        port,
        'POST /v1/chat/completions HTTP/1.1\r\nHost: sluice\r\n',
        'X-Slow: aaaaaaaaaa',
        400,
      ),
    );
    const bodyDrips = Array.from({ length: 10 }, () =>
      dripConnection(
        port,
        'POST /v1/chat/completions HTTP/1.1\r\nHost: sluice\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n',
        '{"model":"gpt-4o-mini","messages":[]}',
        // More often than the idle timeout, so only the whole-request limit can end it.
        400,
      ),
    );
    const drips = [...headerDrips, ...bodyDrips];

    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'k', maxRetries: 0 });
    const served: number[] = [];
    const traffic = (async () => {
      const until = Date.now() + REQUEST_READ_TIMEOUT_MS + 500;
      for (let i = 0; Date.now() < until; i++) {
        const t0 = Date.now();
        const res = await client.chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `normal request ${i}` }],
        });
        assert.equal(res.object, 'chat.completion');
        const health = await fetch(`${gw.url}/healthz`);
        assert.equal(health.status, 200);
        await health.arrayBuffer();
        served.push(Date.now() - t0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    try {
      const closed = await Promise.race([
        Promise.all(drips.map((d) => d.closedAfter)),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('a drip connection was never cut')), CUT_WITHIN_MS + 1_000),
        ),
      ]);
      await traffic;
      const headerCuts = closed.slice(0, 10);
      const bodyCuts = closed.slice(10);
      for (const ms of headerCuts) {
        assert.ok(ms >= HEADERS_TIMEOUT_MS - 100, `a header drip was cut after ${ms} ms, before its limit`);
        assert.ok(ms < CUT_WITHIN_MS, `a header drip lived ${ms} ms`);
      }
      for (const ms of bodyCuts) {
        assert.ok(
          ms >= REQUEST_READ_TIMEOUT_MS - 100,
          `a body drip was cut after ${ms} ms, before its limit`,
        );
        assert.ok(ms < CUT_WITHIN_MS, `a body drip lived ${ms} ms`);
      }
      for (const d of drips) assert.match(d.received(), /^HTTP\/1\.1 408/, 'Node answers 408 before closing');
      assert.ok(served.length >= 5, `only ${served.length} normal requests were served`);
      assert.ok(Math.max(...served) < 1_000, `a normal request took ${Math.max(...served)} ms`);
    } finally {
      for (const d of drips) d.stop();
    }
  });

  it('answers 408 in the API shape and closes when a body stalls', async () => {
    const stalled = dripConnection(
      gw.sluice.port,
      'POST /v1/messages HTTP/1.1\r\nHost: sluice\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"model":',
      '',
      60_000,
    );
    try {
      const ms = await stalled.closedAfter;
      assert.ok(ms >= BODY_IDLE_TIMEOUT_MS - 100 && ms < REQUEST_READ_TIMEOUT_MS, `closed after ${ms} ms`);
      const reply = stalled.received();
      assert.match(reply, /^HTTP\/1\.1 408/);
      assert.match(reply, /connection: close/i);
      const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as {
        type: string;
        error: { type: string; code: string };
      };
      assert.equal(body.type, 'error', 'Anthropic shape on /v1/messages');
      assert.equal(body.error.code, 'request_timeout');
    } finally {
      stalled.stop();
    }
  });

  it('does not cut a long streamed reply once the request is in', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'k', maxRetries: 0 });
    const t0 = Date.now();
    // 30 tokens 120 ms apart: the reply lasts well past every read limit.
    const stream = await client.chat.completions.create(
      {
        model: 'gpt-4o-mini',
        stream: true,
        max_tokens: 30,
        messages: [{ role: 'user', content: 'Tell me a long story about a slow river and its many bends' }],
      },
      { headers: { 'x-mock-token-delay-ms': '120' } },
    );
    let finish: string | null | undefined;
    for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
    const elapsed = Date.now() - t0;
    assert.ok(finish, 'the stream ran to its end');
    assert.ok(elapsed > REQUEST_READ_TIMEOUT_MS + 500, `the reply lasted only ${elapsed} ms`);
  });
});
