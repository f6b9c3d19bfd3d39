import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { canonicalJson } from '../src/cache/canonical-json.js';
import { canonicalKey } from '../src/cache/key.js';
import { semanticPartition, semanticRequest } from '../src/cache/semantic/request.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const key = (body: Record<string, unknown>, dialect: 'openai' | 'anthropic' = 'openai') =>
  canonicalKey({ dialect, route: dialect === 'openai' ? 'chat' : 'messages', scope: 's', body });

/** Reverses the key order of every object, at every depth (arrays keep their order). */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).reverse()) out[k] = reversedKeys((value as Record<string, unknown>)[k]);
  return out;
}

const toolsBody = () => ({
  model: 'gpt-4o-mini',
  temperature: 0,
  messages: [
    { role: 'system', content: 'You answer weather questions.' },
    { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo?' }] },
  ],
  tools: [
    {
      type: 'function',
      function: {
        name: 'weather',
        description: 'Current weather',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
          required: ['city'],
        },
      },
    },
  ],
  logit_bias: { '50256': -100, '1000': 5, '42': 1 },
});

describe('canonical JSON (key order at every depth)', () => {
  it('is JSON.stringify of the value with every object key-sorted, arrays in order', () => {
    const value = { b: [3, { y: 1, x: [{ d: 1, c: 2 }] }], a: 'é\u2028"', n: null, u: undefined };
    assert.equal(canonicalJson(value), '{"a":"é\u2028\\"","b":[3,{"x":[{"c":2,"d":1}],"y":1}],"n":null}');
    assert.equal(canonicalJson(reversedKeys(value)), canonicalJson(value));
    assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }), 'arrays keep their order');
  });

  it('keeps an own __proto__ key as data and honours toJSON like JSON.stringify', () => {
    const hostile = JSON.parse('{"z":1,"__proto__":{"polluted":true}}') as Record<string, unknown>;
    assert.equal(canonicalJson(hostile), '{"__proto__":{"polluted":true},"z":1}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const withDate = { when: new Date(0), a: 1 };
    assert.equal(canonicalJson(withDate), '{"a":1,"when":"1970-01-01T00:00:00.000Z"}');
  });

  it('shares subtrees already in order and leaves the input untouched', () => {
    const body = toolsBody();
    const before = JSON.stringify(body);
    canonicalJson(body);
    assert.equal(JSON.stringify(body), before);
  });

  it('gives one exact-cache key whatever the key order of nested objects', () => {
    const body = toolsBody();
    assert.equal(key(reversedKeys(body) as Record<string, unknown>), key(body));
    const anthropic = {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } }] },
      ],
    };
    assert.equal(
      key(reversedKeys(anthropic) as Record<string, unknown>, 'anthropic'),
      key(anthropic, 'anthropic'),
    );
  });

  it('still tells apart what differs in content or array order', () => {
    const body = toolsBody();
    const swapped = { ...body, messages: [...body.messages].reverse() };
    assert.notEqual(key(swapped), key(body));
    const otherEnum = structuredClone(body);
    otherEnum.tools[0].function.parameters.properties.unit.enum = ['f', 'c'];
    assert.notEqual(key(otherEnum), key(body));
  });

  it('gives one semantic partition whatever the key order of nested objects', () => {
    const partition = (body: Record<string, unknown>) => {
      const request = semanticRequest('openai', body);
      assert.ok(request);
      return semanticPartition(['scope', 'gpt-4o-mini', request.context]);
    };
    const body = toolsBody();
    assert.equal(partition(reversedKeys(body) as Record<string, unknown>), partition(body));
  });
});

describe('key order through the HTTP gateway: one upstream call, then an exact hit', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  /** Raw fetch: the body's bytes are exactly the JSON text given, key order included. */
  const post = (path: string, json: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-sluice-user': 'order-test', ...headers },
      body: json,
    });

  it('chat messages {"content","role"} vs {"role","content"} and reordered tool functions', async () => {
    const question = `order ${Math.random()}`;
    const first =
      `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"${question}"}],` +
      '"tools":[{"type":"function","function":{"name":"weather","description":"Current weather",' +
      '"parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}';
    const second =
      `{"temperature":0,"messages":[{"content":"${question}","role":"user"}],"model":"gpt-4o-mini",` +
      '"tools":[{"function":{"parameters":{"properties":{"city":{"type":"string"}},"type":"object"},' +
      '"description":"Current weather","name":"weather"},"type":"function"}]}';
    const calls = gw.mock.counts().total;
    const a = await post('/v1/chat/completions', first);
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('x-sluice-cache'), 'miss');
    const answer = await a.json();
    const b = await post('/v1/chat/completions', second);
    assert.equal(b.status, 200);
    assert.equal(b.headers.get('x-sluice-cache'), 'exact');
    assert.deepEqual(await b.json(), answer);
    assert.equal(gw.mock.counts().total, calls + 1, 'one upstream call for both');
  });

  it('the OpenAI SDK with message objects written in either order', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const content = `sdk order ${Math.random()}`;
    const calls = gw.mock.counts().total;
    const a = await client.chat.completions
      .create({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content }] })
      .withResponse();
    const b = await client.chat.completions
      .create({ messages: [{ content, role: 'user' }], temperature: 0, model: 'gpt-4o-mini' })
      .withResponse();
    assert.equal(a.response.headers.get('x-sluice-cache'), 'miss');
    assert.equal(b.response.headers.get('x-sluice-cache'), 'exact');
    assert.equal(b.data.choices[0].message.content, a.data.choices[0].message.content);
    assert.equal(gw.mock.counts().total, calls + 1);
  });

  it('Anthropic content blocks {"text","type"} vs {"type","text"} (official SDK)', async () => {
    const client = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0 });
    const text = `blocks ${Math.random()}`;
    const calls = gw.mock.counts().total;
    // Untyped literals: this SDK's types have no `temperature` (the API accepts it, and the
    // exact cache needs it at 0).
    const typeFirst = {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 64,
      temperature: 0,
      messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text }] }],
    };
    const textFirst = {
      temperature: 0,
      messages: [{ content: [{ text, type: 'text' as const }], role: 'user' as const }],
      max_tokens: 64,
      model: 'claude-3-5-haiku-latest',
    };
    const a = await client.messages.create(typeFirst).withResponse();
    const b = await client.messages.create(textFirst).withResponse();
    assert.equal(a.response.headers.get('x-sluice-cache'), 'miss');
    assert.equal(b.response.headers.get('x-sluice-cache'), 'exact');
    assert.deepEqual(b.data.content, a.data.content);
    assert.equal(gw.mock.counts().total, calls + 1);
  });
});
