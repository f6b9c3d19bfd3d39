import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { startTestGateway, type TestGateway } from './helpers.js';

const ADMIN_KEY = 'admin-key-for-metrics-test';

type Families = ReturnType<typeof parsePrometheusTextFormat>;

/** Sum of a family's samples whose labels include `match`. */
function total(families: Families, name: string, match: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  if (!family) return 0;
  let sum = 0;
  for (const m of family.metrics) {
    const labels = m.labels ?? {};
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m.value ?? 0);
  }
  return sum;
}

/**
 * Observations of a labelled histogram, from its `_count` lines: parse-prometheus-text-format
 * folds a histogram's labelled series into one (it follows prom2json's single-series shape).
 */
function histogramCount(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_count(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(match).every(([k, v]) => labels[k] === v)) sum += Number(m[2]);
  }
  return sum;
}

async function scrape(
  gw: TestGateway,
  key = ADMIN_KEY,
): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

describe('GET /metrics counts the traffic that was sent', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(
      {
        retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
        flow: { rateLimits: [{ scope: 'user', rpm: 1, match: 'limited-user' }] },
        observe: { metrics: { maxModels: 3 } },
      },
      { tokenDelayMs: 1 },
      { SLUICE_ADMIN_KEY: ADMIN_KEY },
    );
  });
  after(() => gw.close());

  const openai = (user: string) =>
    new OpenAI({
      baseURL: gw.v1,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-sluice-user': user, authorization: `Bearer ${ADMIN_KEY}` },
    });

  it('needs the admin key when one is set', async () => {
    const res = await scrape(gw, 'wrong');
    assert.equal(res.status, 401);
    assert.doesNotMatch(res.text, /llm_requests_total/);
  });

  it('matches requests, cache hits, tokens, cost, retries, refusals and TTFT; agrees with /v1/stats', async () => {
    const client = openai('alice');
    const questions = ['one', 'two', 'three'].map((q) => `metrics question ${q} ${Math.random()}`);
    let billedInput = 0;
    let billedOutput = 0;
    for (const q of questions) {
      const r = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        temperature: 0,
        messages: [{ role: 'user', content: q }],
      });
      billedInput += r.usage?.prompt_tokens ?? 0;
      billedOutput += r.usage?.completion_tokens ?? 0;
    }
    // Two exact hits.
    for (const q of questions.slice(0, 2)) {
      const hit = await client.chat.completions
        .create({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: q }] })
        .withResponse();
      assert.equal(hit.response.headers.get('x-sluice-cache'), 'exact');
    }
    // A stream (TTFT), a 429 retried once (attempts and retries), an Anthropic call.
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `stream ${Math.random()}` }],
      stream: true,
    });
    for await (const _ of stream) {
      // drain
    }
    await client.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: `retried ${Math.random()}` }] },
      {
        headers: {
          'x-mock-fail-times': '1',
          'x-mock-fail-key': `k${Math.random()}`,
          'x-mock-retry-after-ms': '1',
        },
      },
    );
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
    await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 50,
      messages: [{ role: 'user', content: `hello ${Math.random()}` }],
    });
    // A refusal: the second request of a user limited to 1 rpm.
    const limited = openai('limited-user');
    await limited.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'a' }],
    });
    await assert.rejects(
      limited.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'b' }] }),
      (e: unknown) => (e as { status?: number }).status === 429,
    );
    // Models past the label cap collapse into `other`.
    for (const model of ['made-up-1', 'made-up-2', 'made-up-3', 'made-up-4', 'made-up-5']) {
      await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
    }

    const { status, text, type } = await scrape(gw);
    assert.equal(status, 200);
    assert.match(type, /^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(text);

    assert.equal(total(families, 'llm_requests_total'), 3 + 2 + 1 + 1 + 1 + 2 + 5);
    assert.equal(
      total(families, 'llm_requests_total', { model: 'gpt-4o-mini', status: '2xx' }),
      3 + 2 + 1 + 1,
    );
    assert.equal(total(families, 'llm_requests_total', { model: 'gpt-4o-mini', status: '4xx' }), 1);
    assert.equal(total(families, 'llm_requests_total', { model: 'gpt-4o', status: '2xx' }), 1);
    assert.equal(total(families, 'llm_requests_total', { route: 'messages' }), 1);
    assert.equal(histogramCount(text, 'llm_latency_seconds', { model: 'gpt-4o-mini', cache: 'exact' }), 2);
    assert.equal(total(families, 'llm_refusals_total', { reason: 'rate_limited' }), 1);
    assert.equal(total(families, 'llm_errors_total', { error_type: 'rate_limited' }), 1);
    assert.equal(histogramCount(text, 'llm_time_to_first_token_seconds'), 1);
    assert.equal(total(families, 'llm_upstream_attempts_total', { outcome: '429' }), 1);
    assert.equal(total(families, 'llm_upstream_retries_total'), 1);
    assert.equal(total(families, 'llm_active_requests'), 0);
    assert.equal(histogramCount(text, 'llm_latency_seconds'), 3 + 2 + 1 + 1 + 1 + 2 + 5);
    assert.equal(histogramCount(text, 'llm_gateway_overhead_seconds'), 3 + 2 + 1 + 1 + 1 + 2 + 5);
    assert.ok(text.includes('llm_latency_seconds_bucket{le="0.005"'), 'fine buckets below 0.5 s');
    assert.ok(text.includes('llm_latency_seconds_bucket{le="60"'), "the seed's buckets up to 60 s");

    // Bounded labels: the simulated upstreams list no model names (`*`), so the first three
    // names seen fill `maxModels` and every later one is counted as `other`.
    const models = new Set(
      families.find((f) => f.name === 'llm_requests_total')?.metrics.map((m) => m.labels?.model) ?? [],
    );
    assert.deepEqual([...models].sort(), ['claude-3-5-haiku-latest', 'gpt-4o', 'gpt-4o-mini', 'other']);
    assert.equal(total(families, 'llm_requests_total', { model: 'other' }), 5);
    for (const family of families) {
      for (const m of family.metrics) {
        const labels = Object.keys(m.labels ?? {});
        assert.ok(
          !labels.includes('user') && !labels.includes('key'),
          `${family.name} has no per-caller label`,
        );
        assert.ok(!Object.values(m.labels ?? {}).includes('alice'), `${family.name} never names a user`);
      }
    }

    // Tokens and cost equal the ledger's rows.
    const gateway = gw.sluice.gateway;
    await gateway.economy.ledger.idle();
    const rows = await gateway.economy.ledger.store.query({ since: 0 });
    const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0);
    assert.equal(
      total(families, 'llm_tokens_total', { type: 'input' }),
      sum((r) => r.inputTokens),
    );
    assert.equal(
      total(families, 'llm_tokens_total', { type: 'output' }),
      sum((r) => r.outputTokens),
    );
    assert.ok(sum((r) => r.inputTokens) >= billedInput && billedOutput > 0);
    const cost = total(families, 'llm_cost_usd_total');
    assert.ok(Math.abs(cost - sum((r) => r.costUsd ?? 0)) < 1e-9, `cost ${cost}`);
    const avoided = total(families, 'llm_cost_avoided_usd_total', { layer: 'exact' });
    assert.ok(Math.abs(avoided - sum((r) => (r.cache === 'exact' ? r.costAvoidedUsd : 0))) < 1e-9);

    // Cache hits agree with /v1/stats.
    const stats = (await (
      await fetch(`${gw.url}/v1/stats`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    ).json()) as { hits: { exact: number; semantic: number } };
    assert.equal(total(families, 'llm_cache_lookups_total', { layer: 'exact', outcome: 'hit' }), 2);
    assert.equal(stats.hits.exact, 2);
    assert.equal(rows.filter((r) => r.cache === 'exact').length, 2);
  });
});
