import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { startTestGateway, type TestGateway } from './helpers.js';

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('OpenAI route through the gateway, official openai SDK', () => {
  let gw: TestGateway;
  let client: OpenAI;
  before(async () => {
    gw = await startTestGateway();
    client = new OpenAI({ baseURL: gw.v1, apiKey: 'sk-client-test', maxRetries: 0 });
  });
  after(() => gw.close());

  it('answers a non-streaming chat completion with usage', async () => {
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'gpt-4o-mini');
    assert.ok(res.choices[0].message.content && res.choices[0].message.content.length > 0);
    assert.ok(res.usage && res.usage.prompt_tokens > 0 && res.usage.completion_tokens > 0);
  });

  it('passes every parameter through untouched', async () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: 'pass-through check' }],
      seed: 42,
      n: 2,
      logprobs: true,
      top_logprobs: 2,
      temperature: 0.3,
      response_format: { type: 'json_object' as const },
      tools: [weatherTool],
      tool_choice: 'none' as const,
      stop: ['END'],
      user: 'u-1',
      metadata: { a: 'b' },
    };
    const res = await client.chat.completions.create(body);
    assert.equal(res.choices.length, 2);
    const seen = gw.mock.received.at(-1);
    assert.equal(seen?.path, '/v1/chat/completions');
    assert.deepEqual(seen?.body, body);
  });

  it('streams chunk by chunk and ends with the usage chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Tell me a short story' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(chunks > 3, `expected several chunks, got ${chunks}`);
    assert.ok(text.length > 0);
    assert.ok(usage && usage.completion_tokens > 0);
    const nonStream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Tell me a short story' }],
    });
    assert.equal(text, nonStream.choices[0].message.content, 'stream and non-stream replies agree');
  });

  it('returns tool calls, streaming and not', async () => {
    const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }];
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      tools: [weatherTool],
    });
    const call = res.choices[0].message.tool_calls?.[0];
    assert.equal(res.choices[0].finish_reason, 'tool_calls');
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');

    const stream = client.chat.completions.stream({ model: 'gpt-4o-mini', messages, tools: [weatherTool] });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0].message.tool_calls?.[0];
    assert.ok(streamed && streamed.type === 'function');
    assert.equal(streamed.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(streamed.function.arguments), JSON.parse(call.function.arguments));
  });

  it('serves embeddings and the model list', async () => {
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);
    assert.ok(emb.data[0].embedding.length > 0);
    const models = await client.models.list();
    assert.ok(models.data.length > 0);
  });

  it('answers /healthz', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { status: string }).status, 'ok');
  });
});
