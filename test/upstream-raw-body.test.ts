import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * The hot path forwards the client's own request bytes when no stage changed the body, and
 * serialises the changed body when one did. The bodies below are written by hand with spacing,
 * key order and escapes `JSON.stringify` would not reproduce, so "the same bytes" cannot pass
 * by accident.
 */
describe('request bytes forwarded upstream', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ cost: { budgets: { users: { capped: { dailyUsd: 100 } } } } });
  });
  after(() => gw.close());

  async function post(text: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(`${gw.v1}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client', ...headers },
      body: text,
    });
    await res.arrayBuffer();
    return res;
  }

  function lastReceived() {
    const seen = gw.mock.received.at(-1);
    assert.ok(seen, 'the upstream received a request');
    assert.equal(seen.path, '/v1/chat/completions');
    return seen;
  }

  it('sends the client bytes unchanged when no stage changed the body', async () => {
    const text =
      '{ "messages" : [ {"role":"user", "content":"caf\\u00e9 \\/ raw bytes"} ],\n  "model":"gpt-4o-mini", "seed": 7.0 }';
    const res = await post(text);
    assert.equal(res.status, 200);
    assert.equal(lastReceived().text, text);
  });

  it('sends a stream that already asks for usage unchanged', async () => {
    const text =
      '{"stream":true,  "stream_options":{"include_usage":true},"model":"gpt-4o-mini","messages":[{"role":"user","content":"stream me"}]}';
    const res = await post(text);
    assert.equal(res.status, 200);
    assert.equal(lastReceived().text, text);
  });

  it('serialises the body when the stream stage adds the usage request', async () => {
    const text = '{"stream":true,  "model":"gpt-4o-mini","messages":[{"role":"user","content":"stream me"}]}';
    const res = await post(text);
    assert.equal(res.status, 200);
    const seen = lastReceived();
    assert.notEqual(seen.text, text);
    assert.deepEqual(seen.body, {
      stream: true,
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream me' }],
      stream_options: { include_usage: true },
    });
  });

  it('serialises the body when the budget stage caps the output tokens', async () => {
    const text = '{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"capped"}]}';
    const res = await post(text, { 'x-sluice-user': 'capped' });
    assert.equal(res.status, 200);
    const seen = lastReceived();
    assert.notEqual(seen.text, text);
    assert.equal((seen.body as { max_completion_tokens?: number }).max_completion_tokens, 4096);
  });

  it('serialises the body when routing changes the model', async () => {
    const text = '{"model":"auto",  "messages":[{"role":"user","content":"hi"}]}';
    const res = await post(text);
    assert.equal(res.status, 200);
    const seen = lastReceived();
    assert.notEqual(seen.text, text);
    const routed = (seen.body as { model: string }).model;
    assert.notEqual(routed, 'auto');
    assert.equal(res.headers.get('x-sluice-model'), routed);
  });

  it('an SDK request arrives with the same parsed body either way', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'sk-client', maxRetries: 0 });
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'sdk bytes' }],
      temperature: 0.5,
    };
    await client.chat.completions.create(body);
    const seen = lastReceived();
    assert.deepEqual(seen.body, body);
    assert.equal(seen.text, JSON.stringify(body));
  });
});
