import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

const ADMIN = 'admin-secret-key-web-safety';
const chatBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const messagesBody = JSON.stringify({
  model: 'claude-3-5-haiku-latest',
  max_tokens: 20,
  messages: [{ role: 'user', content: 'hi' }],
});

/** A fetch that records the content-type each SDK request declares. */
function recordingFetch(seen: string[]): typeof fetch {
  return async (input, init) => {
    seen.push(new Headers(init?.headers).get('content-type') ?? '(none)');
    return fetch(input, init);
  };
}

const corsHeaders = (res: Response) =>
  [...res.headers.keys()].filter((name) => name.startsWith('access-control-'));

describe('browsers cannot drive the gateway: JSON only, no CORS unless configured', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  it('answers a cross-site text/plain POST 415 in the OpenAI shape without calling the upstream', async () => {
    const before = gw.mock.counts().total;
    const res = await fetch(`${gw.v1}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', origin: 'https://evil.example' },
      body: chatBody,
    });
    assert.equal(res.status, 415);
    const json = (await res.json()) as { error: { type: string; code: string; message: string } };
    assert.equal(json.error.type, 'invalid_request_error');
    assert.equal(json.error.code, 'unsupported_media_type');
    assert.match(json.error.message, /application\/json/);
    assert.deepEqual(corsHeaders(res), [], 'no CORS header when none is configured');
    assert.equal(gw.mock.counts().total, before, 'the provider was not called');
  });

  it('refuses forms, a missing content type and look-alikes on every API route', async () => {
    const cases: Array<[string, string, string | undefined]> = [
      ['/v1/chat/completions', chatBody, 'application/x-www-form-urlencoded'],
      ['/v1/chat/completions', chatBody, 'multipart/form-data; boundary=x'],
      ['/v1/chat/completions', chatBody, undefined],
      ['/v1/chat/completions', chatBody, 'application/jsonx'],
      ['/v1/embeddings', JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' }), 'text/plain'],
      ['/v1/messages', messagesBody, 'text/plain'],
    ];
    const before = gw.mock.counts().total;
    for (const [path, body, type] of cases) {
      // A Blob body with an empty type makes fetch send no content-type at all.
      const res = await fetch(`${gw.url}${path}`, {
        method: 'POST',
        headers: type ? { 'content-type': type } : {},
        body: type ? body : new Blob([body]),
      });
      assert.equal(res.status, 415, `${path} with ${type ?? 'no content-type'}`);
      const json = (await res.json()) as { type?: string; error: { type: string; code: string } };
      if (path === '/v1/messages') {
        assert.equal(json.type, 'error', 'Anthropic shape on /v1/messages');
        assert.equal(json.error.type, 'invalid_request_error');
      }
      assert.equal(json.error.code, 'unsupported_media_type');
    }
    assert.equal(gw.mock.counts().total, before);
  });

  it('accepts application/json in any case and with parameters', async () => {
    for (const type of [
      'application/json',
      'Application/JSON; charset=utf-8',
      'application/json ;charset=UTF-8',
    ]) {
      const res = await fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: chatBody,
      });
      assert.equal(res.status, 200, type);
      await res.arrayBuffer();
    }
  });

  it('keeps working for the official SDKs, which declare application/json', async () => {
    const seen: string[] = [];
    const openai = new OpenAI({ baseURL: gw.v1, apiKey: 'k', maxRetries: 0, fetch: recordingFetch(seen) });
    const chat = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'sdk check' }],
    });
    assert.equal(chat.object, 'chat.completion');
    const anthropic = new Anthropic({
      baseURL: gw.url,
      apiKey: 'k',
      maxRetries: 0,
      fetch: recordingFetch(seen),
    });
    const msg = await anthropic.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 20,
      messages: [{ role: 'user', content: 'sdk check' }],
    });
    assert.equal(msg.type, 'message');
    assert.equal(seen.length, 2);
    for (const type of seen) assert.match(type, /^application\/json/);
  });

  it('does not answer a CORS preflight when no origin is configured', async () => {
    const res = await fetch(`${gw.v1}/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.ok(res.status >= 400, `preflight must fail, got ${res.status}`);
    assert.deepEqual(corsHeaders(res), []);
    await res.arrayBuffer();
    const get = await fetch(`${gw.url}/v1/models`, { headers: { origin: 'https://evil.example' } });
    assert.equal(get.status, 200);
    assert.deepEqual(corsHeaders(get), []);
    await get.arrayBuffer();
  });

  it('leaves /v1/stats open when no admin key is set', async () => {
    const res = await fetch(`${gw.url}/v1/stats`);
    assert.equal(res.status, 200);
    assert.ok('total_requests' in ((await res.json()) as object));
  });
});

describe('CORS for configured origins, admin key on /v1/stats and JSON on admin POSTs', () => {
  const app = 'https://app.example.com';
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ cors: { origins: [app] } }, {}, { SLUICE_ADMIN_KEY: ADMIN });
  });
  after(() => gw.close());

  it('answers the preflight of a listed origin and only that origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${gw.v1}/chat/completions`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
    const ok = await preflight(app);
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), app);
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(ok.headers.get('access-control-allow-headers'), 'authorization, content-type');
    assert.match(ok.headers.get('vary') ?? '', /Origin/);

    const other = await preflight('https://evil.example');
    assert.ok(other.status >= 400);
    assert.deepEqual(corsHeaders(other), []);
    await other.arrayBuffer();
  });

  it('lets a listed origin read replies and errors, and no one else', async () => {
    const post = (origin: string, type = 'application/json') =>
      fetch(`${gw.v1}/chat/completions`, {
        method: 'POST',
        headers: { origin, 'content-type': type },
        body: chatBody,
      });
    const ok = await post(app);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), app);
    assert.equal(ok.headers.get('access-control-expose-headers'), '*');
    await ok.arrayBuffer();
    const refused = await post(app, 'text/plain');
    assert.equal(refused.status, 415);
    assert.equal(refused.headers.get('access-control-allow-origin'), app);
    await refused.arrayBuffer();
    const other = await post('https://evil.example');
    assert.equal(other.headers.get('access-control-allow-origin'), null);
    await other.arrayBuffer();
  });

  it('requires the admin key on /v1/stats once one is set', async () => {
    const anonymous = await fetch(`${gw.url}/v1/stats`);
    assert.equal(anonymous.status, 401);
    const body = (await anonymous.json()) as { error: { code: string } } & Record<string, unknown>;
    assert.equal(body.error.code, 'unauthorized');
    assert.equal(body.users, undefined, 'no usage leaks in the refusal');
    const wrong = await fetch(`${gw.url}/v1/stats`, { headers: { authorization: 'Bearer not-the-admin' } });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    const admin = await fetch(`${gw.url}/v1/stats`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(admin.status, 200);
    assert.ok('total_requests' in ((await admin.json()) as object));
  });

  it('answers 415 on admin POST routes sent as text/plain, and creates nothing', async () => {
    const headers = { authorization: `Bearer ${ADMIN}` };
    const created = await fetch(`${gw.url}/admin/keys`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'text/plain' },
      body: JSON.stringify({ user: 'mallory' }),
    });
    assert.equal(created.status, 415);
    assert.equal(
      ((await created.json()) as { error: { code: string } }).error.code,
      'unsupported_media_type',
    );
    const purge = await fetch(`${gw.url}/admin/cache/purge`, {
      method: 'POST',
      headers,
      body: new Blob([JSON.stringify({ shared: true })]),
    });
    assert.equal(purge.status, 415);
    await purge.arrayBuffer();
    const list = (await (await fetch(`${gw.url}/admin/keys`, { headers })).json()) as {
      keys: Array<{ user: string }>;
    };
    assert.ok(!list.keys.some((k) => k.user === 'mallory'));
  });
});
