import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { startMockUpstream } from '../src/mock/index.js';
import { startTestGateway, type TestGateway } from './helpers.js';

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('bad input gets the error shape the client expects', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ maxBodyBytes: 4096 });
  });
  after(() => gw.close());

  it('an invalid x-sluice-priority, x-sluice-cache-ttl or x-sluice-timeout-ms is a 400 naming the header', async () => {
    const before = gw.mock.received.length;
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    for (const [name, value] of [
      ['x-sluice-priority', 'urgent'],
      ['x-sluice-cache-ttl', '5m'],
      ['x-sluice-timeout-ms', '-1'],
    ]) {
      const { status, json } = await post(`${gw.v1}/chat/completions`, body, { [name]: value });
      assert.equal(status, 400, name);
      const error = json.error as Record<string, unknown>;
      assert.equal(error.param, name);
      assert.ok(String(error.message).includes(name));
    }
    const anthropic = await post(
      `${gw.url}/v1/messages`,
      JSON.stringify({
        model: 'claude-3-5-haiku-latest',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
      }),
      { 'x-sluice-priority': 'HIGHEST' },
    );
    assert.equal(anthropic.status, 400);
    assert.equal((anthropic.json as { type: string }).type, 'error');
    assert.equal(gw.mock.received.length, before, 'nothing reached the upstream');
    assert.equal(
      (await post(`${gw.v1}/chat/completions`, body, { 'x-sluice-priority': 'High' })).status,
      200,
    );
  });

  it('malformed JSON → 400 in OpenAI shape', async () => {
    const { status, json } = await post(`${gw.v1}/chat/completions`, '{"model": "x", ');
    assert.equal(status, 400);
    const error = json.error as Record<string, unknown>;
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, 'invalid_json');
    assert.ok(String(error.message).includes('JSON'));
  });

  it('invalid body → 400 naming the field, and nothing reaches the upstream', async () => {
    const before = gw.mock.received.length;
    const { status, json } = await post(
      `${gw.v1}/chat/completions`,
      JSON.stringify({ model: 'm', messages: [] }),
    );
    assert.equal(status, 400);
    assert.equal((json.error as Record<string, unknown>).param, 'messages');
    assert.equal(gw.mock.received.length, before);
  });

  it('body over the limit → 413', async () => {
    const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    const { status, json } = await post(`${gw.v1}/chat/completions`, big);
    assert.equal(status, 413);
    assert.equal((json.error as Record<string, unknown>).code, 'payload_too_large');
  });

  it('Anthropic route errors are Anthropic-shaped', async () => {
    const { status, json } = await post(`${gw.url}/v1/messages`, '{nope');
    assert.equal(status, 400);
    assert.equal(json.type, 'error');
    assert.equal((json.error as Record<string, unknown>).type, 'invalid_request_error');
    const missing = await post(
      `${gw.url}/v1/messages`,
      JSON.stringify({ model: 'c', messages: [{ role: 'user', content: 'hi' }] }),
    );
    assert.equal(missing.status, 400);
    assert.ok(String((missing.json.error as Record<string, unknown>).message).includes('max_tokens'));
  });

  it('SDK clients see typed errors', async () => {
    const openai = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(
      openai.chat.completions.create({ model: 'm', messages: [] }),
      (e: unknown) => e instanceof OpenAI.BadRequestError,
    );
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
    await assert.rejects(
      anthropic.messages.create({ model: 'c', max_tokens: 0, messages: [{ role: 'user', content: 'hi' }] }),
      (e: unknown) => e instanceof Anthropic.BadRequestError,
    );
  });

  it('unknown route → 404', async () => {
    const res = await fetch(`${gw.url}/v1/nothing`);
    assert.equal(res.status, 404);
  });
});

describe('unknown models', () => {
  it('→ 404 model_not_found; a model of the other dialect is answered through translation', async () => {
    const mock = await startMockUpstream();
    const sluice = await startSluice({
      config: validateConfig({
        port: 0,
        logLevel: 'silent',
        upstreams: [
          { name: 'oa', kind: 'openai', baseUrl: `${mock.url}/v1`, models: ['gpt-4o*'] },
          { name: 'an', kind: 'anthropic', baseUrl: `${mock.url}/v1`, models: ['claude-*'] },
        ],
      }),
    });
    try {
      const unknown = await post(
        `${sluice.url}/v1/chat/completions`,
        JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }),
      );
      assert.equal(unknown.status, 404);
      assert.equal((unknown.json.error as Record<string, unknown>).code, 'model_not_found');
      const wrong = await post(
        `${sluice.url}/v1/chat/completions`,
        JSON.stringify({ model: 'claude-3', messages: [{ role: 'user', content: 'hi' }] }),
      );
      assert.equal(wrong.status, 200);
      assert.equal(wrong.json.object, 'chat.completion');
      assert.equal(mock.received.at(-1)?.path, '/v1/messages');
      const ok = await post(
        `${sluice.url}/v1/chat/completions`,
        JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      );
      assert.equal(ok.status, 200);
    } finally {
      await sluice.close();
      await mock.close();
    }
  });
});
