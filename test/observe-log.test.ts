import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { startSluice, type RunningSluice } from '../src/app.js';
import { upstreamSchema } from '../src/config/schema.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream, type MockUpstream } from '../src/mock/index.js';
import { createLogger } from '../src/observe/log.js';
import { OtlpCapture } from './otlp-capture.js';

const PROVIDER_KEY = 'sk-provider-secret-0123456789abcdef';
const ADMIN_KEY = 'sluice-admin-secret-0123456789';

/** Collects the gateway's JSON log lines. */
class LogLines extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
  requests() {
    return this.lines.filter((l) => l.msg === 'request');
  }
}

async function start(
  observe: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Promise<{ sluice: RunningSluice; mock: MockUpstream; logs: LogLines; close(): Promise<void> }> {
  const mock = await startMockUpstream({ apiKey: PROVIDER_KEY, tokenDelayMs: 1 });
  const config = validateConfig({
    port: 0,
    logLevel: 'info',
    dataDir: `/tmp/sluice-test-${process.pid}-${Math.random().toString(36).slice(2)}`,
    upstreams: [
      upstreamSchema.parse({
        name: 'provider',
        kind: 'openai',
        baseUrl: `${mock.url}/v1`,
        models: ['*'],
        apiKeyEnv: 'TEST_PROVIDER_KEY',
        forwardHeaderPrefixes: ['x-mock-'],
      }),
    ],
    observe,
  });
  const logs = new LogLines();
  const fullEnv = { ...env, TEST_PROVIDER_KEY: PROVIDER_KEY, SLUICE_ADMIN_KEY: ADMIN_KEY };
  const sluice = await startSluice({
    config,
    env: fullEnv,
    memory: true,
    log: createLogger('info', [PROVIDER_KEY], logs),
  });
  return {
    sluice,
    mock,
    logs,
    async close() {
      await sluice.close();
      await mock.close();
    },
  };
}

describe('one log line per request', () => {
  let collector: OtlpCapture;
  let gw: Awaited<ReturnType<typeof start>>;
  before(async () => {
    collector = await OtlpCapture.start();
    gw = await start(
      {},
      {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    );
  });
  after(async () => {
    await gw.close();
    await collector.close();
  });

  it('carries the trace id, the caller, the cache layer, tokens, cost and timings; no key anywhere', async () => {
    const client = new OpenAI({
      baseURL: `${gw.sluice.url}/v1`,
      apiKey: ADMIN_KEY,
      maxRetries: 0,
      defaultHeaders: { 'x-sluice-user': 'logan' },
    });
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: `secret plan ${Math.random()}` }],
    };
    const miss = await client.chat.completions.create(params).withResponse();
    const hit = await client.chat.completions.create(params).withResponse();
    const failed = await client.chat.completions
      .create({ ...params, temperature: 1 }, { headers: { 'x-mock-fault': '400' } })
      .withResponse()
      .catch((e: { status?: number; headers?: Headers }) => e);
    assert.equal((failed as { status?: number }).status, 400);

    await gw.sluice.gateway.observability.flush();
    const lines = gw.logs.requests();
    assert.equal(lines.length, 3, 'exactly one line per request');
    const traceIds = new Set(collector.spans().map((s) => s.traceId));

    const missLine = lines.find((l) => l.reqId === miss.response.headers.get('x-request-id'));
    assert.ok(missLine);
    assert.match(String(missLine.traceId), /^[0-9a-f]{32}$/);
    assert.ok(traceIds.has(String(missLine.traceId)), 'the trace id is the exported trace’s');
    assert.match(String(missLine.spanId), /^[0-9a-f]{16}$/);
    assert.equal(missLine.user, 'logan');
    assert.equal(missLine.route, 'chat');
    assert.equal(missLine.model, 'gpt-4o-mini');
    assert.equal(missLine.modelUsed, 'gpt-4o-mini');
    assert.equal(missLine.upstream, 'provider');
    assert.equal(missLine.cache, 'miss');
    assert.equal(missLine.status, 200);
    assert.equal(missLine.level, 30);
    assert.deepEqual(missLine.tokens, {
      input: miss.data.usage?.prompt_tokens,
      cacheRead: 0,
      cacheWrite: 0,
      output: miss.data.usage?.completion_tokens,
    });
    assert.equal(typeof missLine.costUsd, 'number');
    assert.equal(typeof missLine.upstreamMs, 'number');
    assert.equal(typeof missLine.totalMs, 'number');
    assert.equal(missLine.queueWaitMs, 0);

    const hitLine = lines.find((l) => l.reqId === hit.response.headers.get('x-request-id'));
    assert.equal(hitLine?.cache, 'exact');
    assert.equal(hitLine?.upstreamMs, undefined);
    assert.ok(Number(hitLine?.costAvoidedUsd) > 0);

    const errorLine = lines.find((l) => l.status === 400);
    assert.equal(errorLine?.outcome, 'error');
    assert.equal(errorLine?.cacheReason, 'nondeterministic');

    for (const raw of gw.logs.raw) {
      assert.ok(!raw.includes(PROVIDER_KEY), 'no provider key in any line');
      assert.ok(!raw.includes(ADMIN_KEY), 'no caller key in any line');
      assert.ok(!raw.includes('secret plan'), 'no message content unless configured');
    }
  });
});

describe('log lines with content and redaction, tracing off', () => {
  let gw: Awaited<ReturnType<typeof start>>;
  before(async () => {
    gw = await start({ requestLog: { content: true }, redact: ['\\b\\d{4}(?:[ -]?\\d{4}){3}\\b'] }, {});
  });
  after(() => gw.close());

  it('adds redacted messages and the answer, and the caller’s trace id from its traceparent', async () => {
    const traceId = randomBytes(16).toString('hex');
    const client = new OpenAI({ baseURL: `${gw.sluice.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const res = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'my card is 4111 1111 1111 1111, ok?' }] },
      { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
    );
    const [line] = gw.logs.requests();
    assert.equal(line.traceId, traceId);
    assert.match(String(line.input), /my card is \[redacted\], ok\?/);
    assert.ok(!String(line.input).includes('4111'));
    // The answer is logged too, redacted the same way (the simulated upstream echoes the question).
    const answer = String(res.choices[0].message.content);
    assert.ok(String(line.output).includes(answer.slice(-40)));
    assert.ok(answer.includes('4111') && !String(line.output).includes('4111'));
  });
});
