import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { LangfuseScoreError, sendLangfuseScore } from '../src/observe/langfuse.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { OtlpCapture } from './otlp-capture.js';

const PUBLIC_KEY = 'pk-lf-test-public';
const SECRET_KEY = 'sk-lf-test-secret';
const BASIC = `Basic ${Buffer.from(`${PUBLIC_KEY}:${SECRET_KEY}`).toString('base64')}`;
const TRACES_PATH = '/api/public/otel/v1/traces';

describe('Langfuse: traces over its OTLP endpoint, scores on the right trace', () => {
  let langfuse: OtlpCapture;
  let collector: OtlpCapture;
  let gw: TestGateway;
  before(async () => {
    // Answers as Langfuse does: 401 without the project's keys, `{ id }` for a score.
    langfuse = await OtlpCapture.start((req) => {
      if (req.headers.authorization !== BASIC) return { status: 401, body: { message: 'Unauthorized' } };
      if (req.path === '/api/public/scores') return { status: 200, body: { id: 'score-1' } };
      return { status: 200, body: {} };
    });
    collector = await OtlpCapture.start();
    gw = await startTestGateway(
      {},
      { tokenDelayMs: 1 },
      {
        LANGFUSE_PUBLIC_KEY: PUBLIC_KEY,
        LANGFUSE_SECRET_KEY: SECRET_KEY,
        LANGFUSE_BASE_URL: `${langfuse.url}/`,
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    );
  });
  after(async () => {
    await gw.close();
    await langfuse.close();
    await collector.close();
  });

  it('sends each request as a trace whose root is a generation with usage, cost, user, session, input and output', async () => {
    const client = new OpenAI({
      baseURL: gw.v1,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-sluice-user': 'lana', 'x-sluice-session': 'session-42' },
    });
    const question = `What is a langfuse? ${Math.random()}`;
    const stream = await client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        temperature: 0,
        messages: [{ role: 'user', content: question }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let answer = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream.data) {
      answer += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    const requestId = stream.response.headers.get('x-request-id');

    const flush = () => gw.sluice.gateway.observability.flush();
    const isRoot = (s: { attributes: Record<string, unknown>; parentSpanId?: string }) =>
      s.attributes['sluice.request_id'] === requestId && !s.parentSpanId;
    const spans = await langfuse.spansWhen((all) => all.some(isRoot), flush, TRACES_PATH);
    await collector.spansWhen((all) => all.some(isRoot), flush);
    const exports = langfuse.requests.filter((r) => r.path === TRACES_PATH);
    assert.ok(exports.length > 0, 'Langfuse received an OTLP export');
    for (const r of exports) {
      assert.equal(r.headers.authorization, BASIC);
      assert.equal(r.headers['x-langfuse-ingestion-version'], '4');
    }
    assert.ok(
      !langfuse.requests.some((r) => r.path === '/api/public/ingestion'),
      'never the deprecated batch API',
    );

    const root = spans.find(isRoot);
    assert.ok(root);
    const a = root.attributes;
    assert.equal(a['langfuse.observation.type'], 'generation');
    assert.equal(a['langfuse.observation.model.name'], 'gpt-4o-mini');
    assert.equal(a['langfuse.user.id'], 'lana');
    assert.equal(a['langfuse.session.id'], 'session-42');
    assert.equal(a['langfuse.trace.metadata.request_id'], requestId);
    const details = JSON.parse(String(a['langfuse.observation.usage_details']));
    assert.equal(details.input, usage?.prompt_tokens);
    assert.equal(details.output, usage?.completion_tokens);
    assert.equal(details.total, (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
    const cost = JSON.parse(String(a['langfuse.observation.cost_details']));
    assert.ok(cost.total > 0);
    assert.ok(String(a['langfuse.observation.input']).includes(question));
    // The output is the answer message as JSON (quotes escaped): its end is plain text.
    assert.ok(String(a['langfuse.observation.output']).includes(answer.slice(-30)));
    assert.match(String(a['langfuse.observation.completion_start_time']), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(JSON.parse(String(a['langfuse.observation.model.parameters'])), {
      temperature: 0,
      stream: true,
    });
    // The cache lookup and the upstream call are spans under it (no queue span: no wait).
    const children = spans.filter((s) => s.traceId === root.traceId && s.parentSpanId === root.spanId);
    assert.deepEqual(children.map((s) => s.name).sort(), ['cache.exact lookup', 'chat gpt-4o-mini']);
    for (const c of children) assert.equal(c.attributes['langfuse.observation.type'], 'span');

    // The general collector gets the same trace, without the conversation.
    const general = collector.spans().filter((s) => s.traceId === root.traceId);
    assert.equal(general.length, 3);
    for (const s of general) {
      assert.ok(!Object.keys(s.attributes).some((k) => k.startsWith('langfuse.')), 'no langfuse.* attribute');
    }
  });

  it('posts a feedback score to /api/public/scores on the request’s trace', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const res = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `rate me ${Math.random()}` }] })
      .withResponse();
    const requestId = res.response.headers.get('x-request-id') ?? '';
    const gateway = gw.sluice.gateway;
    await gateway.economy.ledger.idle();
    const [row] = await gateway.economy.ledger.store.query({ since: 0, where: { requestId } });
    assert.match(String(row.traceId), /^[0-9a-f]{32}$/, 'the ledger row keeps the trace id');
    const config = gateway.observability.langfuse;
    assert.ok(config);

    const answer = await sendLangfuseScore(config, {
      traceId: String(row.traceId),
      name: 'user-feedback',
      value: 1,
      comment: 'helpful',
    });
    assert.deepEqual(answer, { id: 'score-1' });
    const posted = langfuse.requests.filter((r) => r.path === '/api/public/scores');
    assert.equal(posted.length, 1);
    assert.equal(posted[0].headers.authorization, BASIC);
    assert.match(String(posted[0].headers['content-type']), /application\/json/);
    assert.deepEqual(JSON.parse(posted[0].body), {
      traceId: row.traceId,
      name: 'user-feedback',
      value: 1,
      dataType: 'NUMERIC',
      comment: 'helpful',
    });
    await gateway.observability.flush();
    const root = langfuse.spans(TRACES_PATH).find((s) => s.attributes['sluice.request_id'] === requestId);
    assert.equal(root?.traceId, row.traceId, 'the score names the trace Langfuse received');
  });

  it('POST /v1/feedback forwards the score to Langfuse on the answered request’s trace', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const res = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `score me ${Math.random()}` }] })
      .withResponse();
    const requestId = res.response.headers.get('x-request-id') ?? '';
    const gateway = gw.sluice.gateway;
    await gateway.economy.ledger.idle();
    const [row] = await gateway.economy.ledger.store.query({ since: 0, where: { requestId } });
    const before = langfuse.requests.filter((r) => r.path === '/api/public/scores').length;

    const posted = await fetch(`${gw.v1}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: requestId, score: 0.5, name: 'thumbs', comment: 'ok-ish' }),
    });
    assert.equal(posted.status, 200, await posted.text());
    await gateway.langfuseScores?.idle();
    const scores = langfuse.requests.filter((r) => r.path === '/api/public/scores').slice(before);
    assert.equal(scores.length, 1, 'one score sent to Langfuse');
    const sent = JSON.parse(scores[0].body) as Record<string, unknown>;
    assert.equal(sent.traceId, row.traceId);
    assert.equal(sent.value, 0.5);
    assert.equal(sent.name, 'thumbs');
    assert.equal(sent.comment, 'ok-ish');
  });

  it('reports Langfuse refusing a score', async () => {
    const wrong = { baseUrl: langfuse.url, publicKey: PUBLIC_KEY, secretKey: 'nope' };
    await assert.rejects(
      sendLangfuseScore(wrong, { traceId: 'a'.repeat(32), name: 'x', value: 0 }),
      (e: unknown) => e instanceof LangfuseScoreError && /401/.test(e.message),
    );
    await assert.rejects(
      sendLangfuseScore(wrong, { traceId: 'not-a-trace', name: 'x', value: 0 }),
      LangfuseScoreError,
    );
  });
});
