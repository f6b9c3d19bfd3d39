import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

const ADMIN = 'admin-secret-key-123';

describe('admin API, virtual keys, usage report and stats over HTTP', () => {
  let gw: TestGateway;
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${gw.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${ADMIN}`,
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });
  before(async () => {
    gw = await startTestGateway({}, {}, { SLUICE_ADMIN_KEY: ADMIN });
  });
  after(() => gw.close());

  it('refuses the admin API without the admin key', async () => {
    const res = await fetch(`${gw.url}/admin/keys`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(res.status, 401);
  });

  it('creates a virtual key, bills its calls, and /admin/usage equals the calls made', async () => {
    const created = (await (
      await admin('/admin/keys', {
        method: 'POST',
        body: JSON.stringify({ user: 'ursula', team: 'blue', tier: 'pro' }),
      })
    ).json()) as {
      key: string;
      id: string;
    };
    assert.ok(created.key && created.id);
    const client = new OpenAI({ baseURL: gw.v1, apiKey: created.key, maxRetries: 0 });
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: 'bill me' }],
    };
    const first = await client.chat.completions.create(params);
    const second = await client.chat.completions.create(params).withResponse();
    assert.equal(second.response.headers.get('x-sluice-cache'), 'exact');

    const report = (await (await admin('/admin/usage?user=ursula&days=1')).json()) as {
      totals: {
        requests: number;
        cost_usd: number;
        cost_avoided_usd: number;
        tokens: { input: number; output: number };
        cache_hits: { exact: number };
      };
    };
    assert.equal(report.totals.requests, 2);
    assert.equal(report.totals.cache_hits.exact, 1);
    assert.equal(report.totals.tokens.output, first.usage?.completion_tokens);
    assert.ok(report.totals.cost_usd > 0, 'gpt-4o-mini is priced');
    assert.ok(report.totals.cost_avoided_usd > 0, 'the hit records the cost it avoided');

    const revoked = await admin(`/admin/keys?id=${encodeURIComponent(created.id)}`, { method: 'DELETE' });
    assert.equal(revoked.status, 200);
    await assert.rejects(
      client.chat.completions.create(params),
      (e: unknown) => e instanceof OpenAI.AuthenticationError,
    );
  });

  it('reports hits per layer as a ratio of counts on /v1/stats and purges by model', async () => {
    // A miss and a hit of its own, so the ratio and the purge have something to count.
    const created = (await (
      await admin('/admin/keys', { method: 'POST', body: JSON.stringify({ user: 'stella' }) })
    ).json()) as { key: string };
    const client = new OpenAI({ baseURL: gw.v1, apiKey: created.key, maxRetries: 0 });
    const params = {
      model: 'gpt-4o-mini',
      temperature: 0,
      messages: [{ role: 'user' as const, content: 'count me in the stats' }],
    };
    await client.chat.completions.create(params);
    const hit = await client.chat.completions.create(params).withResponse();
    assert.equal(hit.response.headers.get('x-sluice-cache'), 'exact');

    const stats = (await (await admin('/v1/stats')).json()) as {
      total_requests: number;
      hits: { exact: number };
      hit_rate: number;
    };
    assert.ok(stats.total_requests >= 2, `${stats.total_requests} requests`);
    assert.ok(stats.hits.exact >= 1, `${stats.hits.exact} exact hits`);
    assert.equal(stats.hit_rate, stats.hits.exact / stats.total_requests);
    const purge = (await (
      await admin('/admin/cache/purge', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini' }) })
    ).json()) as {
      purged: number;
    };
    assert.ok(purge.purged >= 1, `purged ${purge.purged}`);
  });
});
