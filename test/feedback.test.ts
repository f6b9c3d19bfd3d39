import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startSluice, simulatedUpstreams, type RunningSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream, type MockUpstream } from '../src/mock/index.js';
import type { FeedbackRecord } from '../src/observe/feedback.js';

/**
 * `POST /v1/feedback` keeps a score on an answer (by its `x-request-id`) in the feedback
 * ledger, hands it to the optional hook, shows in `/v1/stats/series`; bad bodies and callers
 * without a key (when keys are required) get an OpenAI-shaped error and change nothing.
 */

const ADMIN = 'feedback-admin-key-42';

describe('POST /v1/feedback', () => {
  let mock: MockUpstream;
  let sluice: RunningSluice;
  const hooked: FeedbackRecord[] = [];
  let hookThrows = false;
  let callerKey: string;

  before(async () => {
    mock = await startMockUpstream({});
    const config = validateConfig({
      port: 0,
      logLevel: 'silent',
      upstreams: simulatedUpstreams(mock.url),
      auth: { required: 'always' },
    });
    sluice = await startSluice({
      config,
      memory: true,
      env: { SLUICE_ADMIN_KEY: ADMIN },
      onFeedback: (fb) => {
        hooked.push(fb);
        if (hookThrows) throw new Error('forwarder down');
      },
    });
    const created = await fetch(`${sluice.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'fiona' }),
    });
    callerKey = ((await created.json()) as { key: string }).key;
  });
  after(async () => {
    await sluice.close();
    await mock.close();
  });

  const post = (body: unknown, key: string | null = callerKey) =>
    fetch(`${sluice.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    });
  const series = async () =>
    (await (
      await fetch(`${sluice.url}/v1/stats/series?range=15m`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      })
    ).json()) as {
      feedback: {
        count: number;
        by_name: Record<string, { count: number; mean: number }>;
        latest: Array<{ request_id: string; user?: string; comment?: string }>;
      };
    };

  it('records a score on an answer, with the caller of the key, and hands it to the hook', async () => {
    const client = new OpenAI({ baseURL: `${sluice.url}/v1`, apiKey: callerKey, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'rate me' }] })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    const res = await post({ request_id: requestId, score: 1, name: 'thumbs', comment: 'good' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { request_id: string; score: number; name: string };
    assert.deepEqual([body.request_id, body.score, body.name], [requestId, 1, 'thumbs']);
    assert.equal(hooked.length, 1);
    assert.deepEqual(
      { ...hooked[0], ts: 0 },
      { ts: 0, requestId, score: 1, name: 'thumbs', comment: 'good', user: 'fiona' },
    );
    const fb = (await series()).feedback;
    assert.equal(fb.count, 1);
    assert.deepEqual(fb.by_name, { thumbs: { count: 1, mean: 1 } });
    assert.equal(fb.latest[0].request_id, requestId);
    assert.equal(fb.latest[0].user, 'fiona');
  });

  it('keeps the score when the hook throws', async () => {
    hookThrows = true;
    const res = await post({ request_id: 'req-2', score: 0 });
    hookThrows = false;
    assert.equal(res.status, 200);
    const fb = (await series()).feedback;
    assert.equal(fb.count, 2);
    assert.deepEqual(fb.by_name.feedback, { count: 1, mean: 0 }, 'unnamed scores are named feedback');
  });

  it('refuses bad bodies and missing keys with an OpenAI error, storing nothing', async () => {
    const cases: Array<[unknown, string | null, number, RegExp]> = [
      [{ request_id: 'r', score: 'high' }, callerKey, 400, /score/],
      [{ score: 1 }, callerKey, 400, /request_id/],
      [{ request_id: 'r', score: 1, rating: 5 }, callerKey, 400, /rating is not a field/],
      [{ request_id: '', score: 1 }, callerKey, 400, /request_id/],
      [{ request_id: 'r', score: 1 }, null, 401, /key/i],
      [{ request_id: 'r', score: 1 }, 'sk-not-a-key', 401, /key/i],
    ];
    for (const [body, key, status, message] of cases) {
      const res = await post(body, key);
      assert.equal(res.status, status, JSON.stringify(body));
      const err = (await res.json()) as { error: { message: string; type: string } };
      assert.match(err.error.message, message);
    }
    const notJson = await fetch(`${sluice.url}/v1/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${callerKey}` },
      body: '{"request_id":',
    });
    assert.equal(notJson.status, 400);
    assert.equal((await series()).feedback.count, 2, 'nothing stored by the refused posts');
    assert.equal(hooked.length, 2);
  });

  it('refuses a stats range outside 5m..31d', async () => {
    for (const range of ['1m', '32d', 'forever', '-1h']) {
      const res = await fetch(`${sluice.url}/v1/stats?range=${range}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      assert.equal(res.status, 400, range);
      assert.equal(((await res.json()) as { error: { param: string } }).error.param, 'range');
    }
  });
});
