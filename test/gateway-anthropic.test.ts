import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startTestGateway, type TestGateway } from './helpers.js';

describe('Anthropic route through the gateway, official @anthropic-ai/sdk', () => {
  let gw: TestGateway;
  let client: Anthropic;
  before(async () => {
    gw = await startTestGateway();
    client = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant-client', maxRetries: 0 });
  });
  after(() => gw.close());

  it('answers a non-streaming message with usage', async () => {
    const msg = await client.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Hello there' }],
    });
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    const block = msg.content[0];
    assert.ok(block.type === 'text' && block.text.length > 0);
    assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
  });

  it('streams the Anthropic event sequence and matches the non-streaming reply', async () => {
    const params = {
      model: 'claude-3-5-haiku-latest',
      max_tokens: 200,
      messages: [{ role: 'user' as const, content: 'Describe a river' }],
    };
    const stream = client.messages.stream(params);
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.ok(types.includes('content_block_delta'));
    const plain = await client.messages.create(params);
    const text = (m: Anthropic.Message) => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    assert.equal(text(final), text(plain));
    assert.ok(final.usage.output_tokens > 0);
  });

  it('returns tool_use blocks', async () => {
    const msg = await client.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 200,
      tools: [
        {
          name: 'get_weather',
          description: 'Weather for a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      ],
      messages: [{ role: 'user', content: 'Weather in Rome?' }],
    });
    assert.equal(msg.stop_reason, 'tool_use');
    const tool = msg.content.find((b) => b.type === 'tool_use');
    assert.ok(tool && tool.type === 'tool_use');
    assert.equal(tool.name, 'get_weather');
  });

  it('accepts the key as x-api-key or as a bearer token and forwards the API version', async () => {
    const auths: Array<Record<string, string>> = [{ 'x-api-key': 'k1' }, { authorization: 'Bearer k2' }];
    for (const auth of auths) {
      const res = await fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...auth },
        body: JSON.stringify({
          model: 'claude-x',
          max_tokens: 20,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      });
      assert.equal(res.status, 200);
      assert.equal(gw.mock.received.at(-1)?.headers['anthropic-version'], '2023-06-01');
    }
  });
});
