import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';
import { type CapturedSpan, OtlpCapture } from './otlp-capture.js';

const SERVER = 2;
const CLIENT = 3;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function byTrace(spans: CapturedSpan[]): Map<string, CapturedSpan[]> {
  const traces = new Map<string, CapturedSpan[]>();
  for (const s of spans) traces.set(s.traceId, [...(traces.get(s.traceId) ?? []), s]);
  return traces;
}

describe('OpenTelemetry traces to an OTLP/HTTP collector', () => {
  let collector: OtlpCapture;
  let gw: TestGateway;
  before(async () => {
    collector = await OtlpCapture.start();
    gw = await startTestGateway(
      { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 } },
      { tokenDelayMs: 1 },
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'sluice-under-test',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-token=abc%20def',
      },
    );
  });
  after(async () => {
    await gw.close();
    await collector.close();
  });

  const openai = () =>
    new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0, defaultHeaders: { 'x-sluice-user': 'tracy' } });

  it('one trace per request: a SERVER root with GenAI attributes, stage spans, CLIENT attempts', async () => {
    const question = `trace me ${Math.random()}`;
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      max_tokens: 40,
      messages: [{ role: 'user' as const, content: question }],
    };
    const miss = await openai().chat.completions.create(params).withResponse();
    const hit = await openai().chat.completions.create(params).withResponse();
    assert.equal(hit.response.headers.get('x-sluice-cache'), 'exact');
    const retried = await openai()
      .chat.completions.create(
        { model: 'gpt-4o', messages: [{ role: 'user', content: `retry ${Math.random()}` }] },
        { headers: { 'x-mock-fail-times': '1', 'x-mock-fail-key': hex(8), 'x-mock-retry-after-ms': '1' } },
      )
      .withResponse();
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
    const streamed = anthropic.messages.stream({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 30,
      messages: [{ role: 'user', content: `stream ${Math.random()}` }],
    });
    await streamed.finalMessage();

    const spans = await collector.spansWhen(
      (all) => all.filter((s) => s.kind === SERVER).length === 4,
      () => gw.sluice.gateway.observability.flush(),
    );
    const traces = byTrace(spans);
    assert.equal(traces.size, 4, 'one trace per request');

    for (const [, trace] of traces) {
      const roots = trace.filter((s) => s.parentSpanId === undefined);
      assert.equal(roots.length, 1);
      assert.equal(roots[0].kind, SERVER);
      for (const child of trace) if (child !== roots[0]) assert.equal(child.parentSpanId, roots[0].spanId);
      assert.equal(roots[0].resource['service.name'], 'sluice-under-test');
    }
    const rootOf = (requestId: string | null) => {
      const root = spans.find((s) => s.kind === SERVER && s.attributes['sluice.request_id'] === requestId);
      assert.ok(root, `a root span for request ${requestId}`);
      return { root, trace: traces.get(root.traceId) ?? [] };
    };

    // The miss: exact lookup (miss), one upstream attempt (a free slot: no queue span); usage on the root.
    const first = rootOf(miss.response.headers.get('x-request-id'));
    assert.equal(first.root.name, 'chat gpt-4o-mini');
    const a = first.root.attributes;
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.request.model'], 'gpt-4o-mini');
    assert.equal(a['gen_ai.response.model'], 'gpt-4o-mini');
    assert.equal(a['gen_ai.provider.name'], 'openai');
    assert.equal(a['gen_ai.request.max_tokens'], 40);
    assert.equal(a['gen_ai.request.temperature'], 0);
    assert.equal(a['gen_ai.usage.input_tokens'], miss.data.usage?.prompt_tokens);
    assert.equal(a['gen_ai.usage.output_tokens'], miss.data.usage?.completion_tokens);
    assert.deepEqual(a['gen_ai.response.finish_reasons'], [miss.data.choices[0].finish_reason]);
    assert.equal(a['sluice.cache.layer'], 'miss');
    assert.equal(a['sluice.user'], 'tracy');
    assert.equal(typeof a['sluice.cost_usd'], 'number');
    assert.equal(a['sluice.queue_wait_ms'], 0);
    const names = first.trace.map((s) => s.name).sort();
    assert.deepEqual(names, ['cache.exact lookup', 'chat gpt-4o-mini', 'chat gpt-4o-mini'].sort());
    const lookup = first.trace.find((s) => s.name === 'cache.exact lookup');
    assert.equal(lookup?.attributes['sluice.cache.hit'], false);
    const attempt = first.trace.find((s) => s.kind === CLIENT);
    assert.equal(attempt?.attributes['sluice.upstream'], 'simulated-openai');
    assert.equal(attempt?.attributes['http.response.status_code'], 200);

    // The hit: the lookup span says hit; no upstream attempt.
    const second = rootOf(hit.response.headers.get('x-request-id'));
    assert.equal(second.root.attributes['sluice.cache.layer'], 'exact');
    assert.equal(
      second.trace.find((s) => s.name === 'cache.exact lookup')?.attributes['sluice.cache.hit'],
      true,
    );
    assert.equal(second.trace.filter((s) => s.kind === CLIENT).length, 0);

    // The retried call: two CLIENT attempts, the first a 429 marked as an error.
    const third = rootOf(retried.response.headers.get('x-request-id'));
    const attempts = third.trace.filter((s) => s.kind === CLIENT);
    assert.deepEqual(attempts.map((s) => s.attributes['http.response.status_code']).sort(), [200, 429]);
    assert.equal(attempts.find((s) => s.attributes['http.response.status_code'] === 429)?.status?.code, 2);

    // The Anthropic stream: provider anthropic, output tokens counted at the stream's end.
    const fourth = [...traces.values()].find((t) =>
      t.some((s) => s.kind === SERVER && s.attributes['gen_ai.request.model'] === 'claude-3-5-haiku-latest'),
    );
    const streamRoot = fourth?.find((s) => s.kind === SERVER);
    assert.equal(streamRoot?.attributes['gen_ai.provider.name'], 'anthropic');
    assert.ok(Number(streamRoot?.attributes['gen_ai.usage.output_tokens']) > 0);
    assert.equal(streamRoot?.attributes['sluice.stream'], true);

    // The collector headers from OTEL_EXPORTER_OTLP_HEADERS.
    assert.equal(collector.requests[0].headers['x-collector-token'], 'abc def');
    assert.match(String(collector.requests[0].headers['content-type']), /application\/json/);
  });

  it("honours an incoming traceparent and passes the attempt's span upstream", async () => {
    const traceId = hex(16);
    const parentId = hex(8);
    const before = collector.spans().length;
    const res = await openai()
      .chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `parented ${Math.random()}` }] },
        { headers: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=1' } },
      )
      .withResponse();
    await gw.sluice.gateway.observability.flush();
    const spans = collector.spans().slice(before);
    const root = spans.find((s) => s.kind === SERVER);
    assert.equal(root?.traceId, traceId, 'the trace id is the caller’s');
    assert.equal(root?.parentSpanId, parentId);
    assert.equal(root?.attributes['sluice.request_id'], res.response.headers.get('x-request-id'));

    const upstream = gw.mock.received.at(-1);
    const sent = String(upstream?.headers.traceparent);
    const attempt = spans.find((s) => s.kind === CLIENT);
    assert.equal(sent, `00-${traceId}-${attempt?.spanId}-01`);
    assert.equal(upstream?.headers.tracestate, 'vendor=1');
  });
});

describe('a queue wait becomes a span', () => {
  let collector: OtlpCapture;
  let gw: TestGateway;
  before(async () => {
    collector = await OtlpCapture.start();
    gw = await startTestGateway(
      { flow: { defaults: { maxConcurrency: 1, maxQueue: 10 }, deadlineAdmission: { enabled: false } } },
      { latencyMs: 150 },
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

  it('the second of two requests on a one-slot upstream has a queue wait span as long as its wait', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const ask = (n: number) =>
      client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `q${n}` }],
      });
    await Promise.all([ask(1), ask(2)]);
    const spans = await collector.spansWhen(
      (all) => all.filter((s) => s.kind === SERVER).length === 2,
      () => gw.sluice.gateway.observability.flush(),
    );
    const waits = spans.filter((s) => s.name === 'queue wait');
    assert.equal(waits.length, 1);
    assert.ok(Number(waits[0].attributes['sluice.queue_wait_ms']) >= 100);
    const root = spans.find((s) => s.spanId === waits[0].parentSpanId);
    assert.equal(root?.attributes['sluice.queue_wait_ms'], waits[0].attributes['sluice.queue_wait_ms']);
  });
});

describe('sampled out', () => {
  let collector: OtlpCapture;
  let gw: TestGateway;
  before(async () => {
    collector = await OtlpCapture.start();
    gw = await startTestGateway(
      {},
      {},
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0',
      },
    );
  });
  after(async () => {
    await gw.close();
    await collector.close();
  });

  it('exports nothing and still propagates a trace context upstream (not sampled)', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await gw.sluice.gateway.observability.flush();
    assert.equal(collector.spans().length, 0);
    assert.match(String(gw.mock.received.at(-1)?.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });
});

describe('tracing off', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({}, {}, {});
  });
  after(() => gw.close());

  it('builds no tracer, and still passes the caller’s traceparent upstream unchanged', async () => {
    assert.equal(gw.sluice.gateway.observability.tracer, undefined);
    const traceparent = `00-${hex(16)}-${hex(8)}-01`;
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
      { headers: { traceparent } },
    );
    assert.equal(gw.mock.received.at(-1)?.headers.traceparent, traceparent);
  });
});
