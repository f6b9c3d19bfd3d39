import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import OpenAI from 'openai';
import type { ResponseInputItem, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { startSluice, type RunningSluice } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { type MockUpstream, startMockUpstream } from '../src/mock/index.js';

/*
 * POST /v1/responses through the gateway, with the clients that call it: the official `openai`
 * SDK (client.responses.create) and the Vercel AI SDK's default `openai(model)`. Two OpenAI-kind
 * upstreams on the simulated provider: `native` serves the Responses API (the request passes
 * as it is), `chat-only` serves chat completions only (the request is translated). The
 * simulated provider answers a Responses request and its chat translation alike, so the two
 * paths must give the client the same answer.
 */

const NATIVE = 'gpt-4o-mini';
const CHAT_ONLY = 'gpt-4o';

let gw: { sluice: RunningSluice; mock: MockUpstream; v1: string };
let client: OpenAI;

before(async () => {
  const mock = await startMockUpstream();
  const base = `${mock.url}/v1`;
  const config = validateConfig({
    port: 0,
    logLevel: 'silent',
    dataDir: `/tmp/sluice-test-${process.pid}-${Math.random().toString(36).slice(2)}`,
    upstreams: [
      {
        name: 'native',
        kind: 'openai',
        baseUrl: base,
        models: [NATIVE],
        apis: ['chat', 'responses', 'embeddings'],
        forwardHeaderPrefixes: ['x-mock-'],
      },
      {
        name: 'chat-only',
        kind: 'openai',
        baseUrl: base,
        models: [CHAT_ONLY],
        forwardHeaderPrefixes: ['x-mock-'],
      },
      { name: 'claude', kind: 'anthropic', baseUrl: mock.url, models: ['claude-*'] },
    ],
  });
  const sluice = await startSluice({ config, env: {} });
  gw = { sluice, mock, v1: `${sluice.url}/v1` };
  client = new OpenAI({ baseURL: gw.v1, apiKey: 'unused', maxRetries: 0 });
});

after(async () => {
  await gw?.sluice.close();
  await gw?.mock.close();
});

const lastReceived = () =>
  gw.mock.received[gw.mock.received.length - 1] as { path: string; body: Record<string, unknown> };

async function events(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
  const out: ResponseStreamEvent[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
};

describe('the Responses API (openai SDK)', () => {
  it('passes a request through to an upstream that serves it, and translates it for one that only speaks chat', async () => {
    const request = {
      instructions: 'Answer briefly.',
      input: 'What is a gateway?',
      max_output_tokens: 200,
      temperature: 0.7,
    };
    const native = await client.responses.create({ model: NATIVE, ...request });
    const sentNative = lastReceived();
    assert.equal(sentNative.path, '/v1/responses');
    assert.equal(sentNative.body.input, 'What is a gateway?');
    assert.equal(sentNative.body.instructions, 'Answer briefly.');

    const translated = await client.responses.create({ model: CHAT_ONLY, ...request });
    const sentChat = lastReceived();
    assert.equal(sentChat.path, '/v1/chat/completions');
    assert.deepEqual(sentChat.body.messages, [
      { role: 'system', content: 'Answer briefly.' },
      { role: 'user', content: 'What is a gateway?' },
    ]);
    assert.equal(sentChat.body.max_tokens, 200);
    assert.equal(sentChat.body.temperature, 0.7);
    assert.equal('input' in sentChat.body, false);

    for (const reply of [native, translated]) {
      assert.equal(reply.object, 'response');
      assert.equal(reply.status, 'completed');
      assert.equal(reply.output[0].type, 'message');
      assert.ok(reply.usage && reply.usage.input_tokens > 0 && reply.usage.output_tokens > 0);
      assert.equal(reply.usage.total_tokens, reply.usage.input_tokens + reply.usage.output_tokens);
      assert.equal(reply.usage.input_tokens_details.cached_tokens, 0);
    }
    assert.ok(translated.output_text.startsWith('You asked: "What is a gateway?"'), translated.output_text);
    assert.equal(translated.output_text, native.output_text, 'same conversation, same answer');
    assert.equal(translated.usage?.input_tokens, native.usage?.input_tokens);
    assert.equal(translated.model, CHAT_ONLY);
    assert.equal(
      (translated as unknown as { store: unknown }).store,
      false,
      'a translated response is stored nowhere',
    );
  });

  it('streams typed events in both cases, ending in response.completed with usage', async () => {
    const texts: string[] = [];
    for (const model of [NATIVE, CHAT_ONLY]) {
      const stream = await client.responses.create({
        model,
        input: 'Stream me a short answer.',
        stream: true,
      });
      const seen = await events(stream);
      const types = seen.map((e) => e.type);
      assert.deepEqual(types.slice(0, 4), [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
      ]);
      assert.deepEqual(types.slice(-4), [
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ]);
      assert.deepEqual(
        seen.map((e) => e.sequence_number),
        seen.map((_, i) => i),
        'sequence numbers count the events',
      );
      const deltas = seen.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []));
      assert.ok(deltas.length > 1);
      const done = seen.at(-1);
      assert.ok(done?.type === 'response.completed');
      assert.equal(done.response.output_text ?? deltas.join(''), deltas.join(''));
      assert.ok(done.response.usage && done.response.usage.output_tokens > 0);
      texts.push(deltas.join(''));
      if (model === CHAT_ONLY) {
        const sent = lastReceived();
        assert.equal(sent.path, '/v1/chat/completions');
        assert.deepEqual(sent.body.stream_options, { include_usage: true });
      }
    }
    assert.equal(texts[0], texts[1]);
  });

  for (const model of [NATIVE, CHAT_ONLY]) {
    it(`runs a function call round trip (${model === NATIVE ? 'passed through' : 'translated'})`, async () => {
      const input: ResponseInputItem[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await client.responses.create({ model, input, tools: [weatherTool], store: false });
      const call = first.output.find((item) => item.type === 'function_call');
      assert.ok(call && call.type === 'function_call', JSON.stringify(first.output));
      assert.equal(call.name, 'get_weather');
      assert.equal(typeof JSON.parse(call.arguments).city, 'string');
      if (model === CHAT_ONLY) {
        const sent = lastReceived().body;
        assert.deepEqual(sent.tools, [
          {
            type: 'function',
            function: {
              name: 'get_weather',
              description: 'Current weather for a city',
              parameters: weatherTool.parameters,
              strict: true,
            },
          },
        ]);
      }

      const second = await client.responses.create({
        model,
        tools: [weatherTool],
        store: false,
        input: [
          ...input,
          { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: 'function_call_output', call_id: call.call_id, output: '{"temperature_c":21}' },
        ],
      });
      assert.equal(second.output[0].type, 'message');
      assert.ok(second.output_text.length > 0);
      if (model === CHAT_ONLY) {
        const messages = lastReceived().body.messages as Array<Record<string, unknown>>;
        assert.deepEqual(messages.slice(1), [
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: call.call_id,
                type: 'function',
                function: { name: 'get_weather', arguments: call.arguments },
              },
            ],
          },
          { role: 'tool', tool_call_id: call.call_id, content: '{"temperature_c":21}' },
        ]);
      }
    });
  }

  it('streams a translated function call as function_call_arguments events', async () => {
    const stream = await client.responses.create({
      model: CHAT_ONLY,
      input: 'Weather in Oslo?',
      tools: [weatherTool],
      stream: true,
    });
    const seen = await events(stream);
    const args = seen.flatMap((e) => (e.type === 'response.function_call_arguments.delta' ? [e.delta] : []));
    const done = seen.find((e) => e.type === 'response.function_call_arguments.done');
    assert.ok(done && done.type === 'response.function_call_arguments.done');
    assert.equal(done.arguments, args.join(''));
    assert.equal(done.name, 'get_weather');
    const completed = seen.at(-1);
    assert.ok(completed?.type === 'response.completed');
    const item = completed.response.output[0];
    assert.ok(item.type === 'function_call' && item.arguments === done.arguments);
  });

  it('sends an image part as chat image_url when translating', async () => {
    const dataUrl = `data:image/png;base64,${Buffer.from('not really a png').toString('base64')}`;
    await client.responses.create({
      model: CHAT_ONLY,
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is in this picture?' },
            { type: 'input_image', image_url: dataUrl, detail: 'low' },
          ],
        },
      ],
    });
    assert.deepEqual((lastReceived().body.messages as unknown[])[0], {
      role: 'user',
      content: [
        { type: 'text', text: 'What is in this picture?' },
        { type: 'image_url', image_url: { url: dataUrl, detail: 'low' } },
      ],
    });
  });

  it('refuses with a 400 naming the parameter what chat completions cannot carry, and sends nothing', async () => {
    const before = gw.mock.counts().attempts;
    await assert.rejects(
      client.responses.create({
        model: CHAT_ONLY,
        input: 'Search the web',
        tools: [{ type: 'web_search' }],
      }),
      (e: unknown) =>
        e instanceof OpenAI.BadRequestError &&
        e.param === 'tools[0].type' &&
        /chat completions/.test(e.message),
    );
    await assert.rejects(
      client.responses.create({ model: NATIVE, input: 'hi', max_tokens: 5 } as never),
      (e: unknown) =>
        e instanceof OpenAI.BadRequestError &&
        e.param === 'max_tokens' &&
        /max_output_tokens/.test(e.message),
    );
    assert.equal(gw.mock.counts().attempts, before);
  });

  it('sends stateful requests only to an upstream that serves the Responses API, and never caches them', async () => {
    const first = await client.responses
      .create({ model: NATIVE, input: 'Remember the number 7.', store: true, temperature: 0 })
      .withResponse();
    assert.equal(first.response.headers.get('x-sluice-cache'), 'bypass');
    assert.equal(first.response.headers.get('x-sluice-cache-reason'), 'stateful');
    const next = await client.responses
      .create({ model: NATIVE, input: 'Which number?', previous_response_id: first.data.id, temperature: 0 })
      .withResponse();
    assert.equal(next.response.headers.get('x-sluice-cache-reason'), 'stateful');
    assert.equal(lastReceived().body.previous_response_id, first.data.id);
    assert.equal(next.data.previous_response_id, first.data.id);

    const before = gw.mock.counts().attempts;
    await assert.rejects(
      client.responses.create({
        model: CHAT_ONLY,
        input: 'Which number?',
        previous_response_id: first.data.id,
      }),
      (e: unknown) =>
        e instanceof OpenAI.BadRequestError &&
        e.param === 'previous_response_id' &&
        /Responses API/.test(e.message),
    );
    assert.equal(gw.mock.counts().attempts, before);
  });

  it('translates a request for a model only an Anthropic upstream serves (JSON), through chat as the pivot', async () => {
    const reply = await client.responses.create({
      model: 'claude-sonnet-4-5',
      instructions: 'Answer briefly.',
      input: 'Name a river in Europe.',
      max_output_tokens: 64,
    });
    const sent = lastReceived();
    assert.equal(sent.path, '/v1/messages');
    assert.equal(sent.body.model, 'claude-sonnet-4-5');
    assert.equal(sent.body.system, 'Answer briefly.');
    assert.equal(sent.body.max_tokens, 64);
    assert.deepEqual(sent.body.messages, [{ role: 'user', content: 'Name a river in Europe.' }]);
    assert.equal(reply.object, 'response');
    assert.equal(reply.status, 'completed');
    assert.ok(reply.output_text.length > 0);
    assert.ok(reply.usage && reply.usage.input_tokens > 0 && reply.usage.output_tokens > 0);
  });

  it('streams typed Responses events for a Claude model, with usage, and the same text as JSON', async () => {
    const params = {
      model: 'claude-sonnet-4-5',
      input: `Describe a lake ${Math.random()}`,
      max_output_tokens: 80,
    };
    const stream = await client.responses.create({ ...params, stream: true });
    const types: string[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    assert.equal(lastReceived().path, '/v1/messages');
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.ok(text.length > 0);
    assert.equal(completed?.output_text ?? text, text);
    assert.ok(completed?.usage && completed.usage.output_tokens > 0);
  });

  it('a function call round trip with a Claude model', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      {
        type: 'function',
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: false,
      },
    ];
    const first = await client.responses.create({
      model: 'claude-sonnet-4-5',
      input: 'What is the weather in Paris? Use the tool.',
      tools,
      tool_choice: 'required',
    });
    const call = first.output.find((item) => item.type === 'function_call');
    assert.ok(call && call.type === 'function_call', JSON.stringify(first.output));
    assert.equal(call.name, 'get_weather');
    const second = await client.responses.create({
      model: 'claude-sonnet-4-5',
      tools,
      input: [
        { role: 'user', content: 'What is the weather in Paris? Use the tool.' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '{"celsius":21}' },
      ],
    });
    const sent = lastReceived().body.messages as Array<{ role: string; content: unknown }>;
    const toolResult = JSON.stringify(sent.at(-1));
    assert.match(toolResult, /tool_result/);
    assert.match(toolResult, /celsius/);
    assert.ok(second.output_text.length > 0);
  });

  it('refuses a stateful request for a Claude model: only a Responses API upstream keeps state', async () => {
    const before = gw.mock.counts().attempts;
    await assert.rejects(
      client.responses.create({ model: 'claude-sonnet-4-5', input: 'hi', store: true }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'store',
    );
    assert.equal(gw.mock.counts().attempts, before);
  });

  it('books a ledger row with usage and cost for a translated call', async () => {
    const reply = await client.responses.create({
      model: CHAT_ONLY,
      input: 'Price this call.',
      user: 'ledger-user',
    });
    const economy = gw.sluice.gateway.economy;
    await economy.flush();
    const rows = await economy.ledger.query({ since: 0 });
    const row = rows.filter((r) => r.user === 'ledger-user').at(-1);
    assert.ok(row, 'a row for the call');
    assert.equal(row.route, 'responses');
    assert.equal(row.model, CHAT_ONLY);
    assert.equal(row.usageEstimated, false, 'the provider reported usage');
    assert.equal(row.inputTokens + row.cacheReadTokens, reply.usage?.input_tokens);
    assert.equal(row.outputTokens, reply.usage?.output_tokens);
    assert.ok(typeof row.costUsd === 'number' && row.costUsd > 0, `cost ${row.costUsd}`);
  });

  it('replays an exact-cache hit as typed SSE events', async () => {
    for (const model of [NATIVE, CHAT_ONLY]) {
      const request = { model, input: `Cache this answer (${model}).`, temperature: 0 };
      const miss = await client.responses.create(request).withResponse();
      assert.equal(miss.response.headers.get('x-sluice-cache'), 'miss');
      const attempts = gw.mock.counts().attempts;
      const hit = await client.responses.create({ ...request, stream: true }).withResponse();
      assert.equal(hit.response.headers.get('x-sluice-cache'), 'exact');
      const seen = await events(hit.data);
      assert.equal(gw.mock.counts().attempts, attempts, 'answered from the cache');
      assert.equal(seen[0].type, 'response.created');
      assert.deepEqual(
        seen.map((e) => e.sequence_number),
        seen.map((_, i) => i),
      );
      const text = seen.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
      assert.equal(text, miss.data.output_text);
      const completed = seen.at(-1);
      assert.ok(completed?.type === 'response.completed');
      assert.equal(completed.response.id, miss.data.id);
      assert.deepEqual(completed.response.usage, miss.data.usage);
    }
  });

  it('stores a streamed miss and serves it as JSON', async () => {
    const request = { model: CHAT_ONLY, input: 'Stream, then cache.', temperature: 0 };
    const streamed = await events(await client.responses.create({ ...request, stream: true }));
    const completed = streamed.at(-1);
    assert.ok(completed?.type === 'response.completed');
    // The capture is handed to the cache as the stream ends; wait for the write itself.
    await gw.sluice.gateway.cache.flush();
    const hit = await client.responses.create(request).withResponse();
    assert.equal(hit.response.headers.get('x-sluice-cache'), 'exact');
    assert.equal(hit.data.id, completed.response.id);
    const streamedText = streamed
      .flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : []))
      .join('');
    assert.equal(hit.data.output_text, streamedText);
  });

  it('ends a translated stream cut mid-way with a typed error event', async () => {
    const stream = await client.responses.create(
      { model: CHAT_ONLY, input: 'This stream will break.', stream: true },
      { headers: { 'x-mock-fault': 'drop-mid-stream', 'x-mock-token-delay-ms': '1' } },
    );
    const seen: ResponseStreamEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of stream) seen.push(event);
      })(),
      (e: unknown) => e instanceof OpenAI.APIError && /upstream/.test(e.message),
    );
    assert.ok(
      seen.some((e) => e.type === 'response.output_text.delta'),
      'deltas arrived before the cut',
    );
    assert.ok(!seen.some((e) => e.type === 'response.completed'), 'a cut stream never completes');
  });
});

describe('the Responses API (Vercel AI SDK default openai(model))', () => {
  const weather = tool({
    description: 'Current weather for a city',
    inputSchema: jsonSchema<{ city: string }>({
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    }),
    execute: async ({ city }) => ({ city, temperatureC: 21 }),
  });

  for (const model of [NATIVE, CHAT_ONLY]) {
    it(`generateText and streamText (${model === NATIVE ? 'passed through' : 'translated'})`, async () => {
      const openai = createOpenAI({ baseURL: gw.v1, apiKey: 'unused' });
      const generated = await generateText({ model: openai(model), prompt: 'Say hello to the SDK.' });
      assert.equal(lastReceived().path, model === NATIVE ? '/v1/responses' : '/v1/chat/completions');
      assert.ok(generated.text.startsWith('You asked: "Say hello to the SDK."'), generated.text);
      assert.ok(generated.usage.inputTokens && generated.usage.inputTokens > 0);
      assert.ok(generated.usage.outputTokens && generated.usage.outputTokens > 0);
      assert.equal(generated.finishReason, 'stop');

      const streamed = streamText({ model: openai(model), prompt: 'Say hello to the SDK.' });
      assert.equal(await streamed.text, generated.text);
      assert.equal(await streamed.finishReason, 'stop');
      assert.equal((await streamed.usage).outputTokens, generated.usage.outputTokens);
    });

    it(`runs a tool call and its result through the SDK (${model === NATIVE ? 'passed through' : 'translated'})`, async () => {
      const openai = createOpenAI({ baseURL: gw.v1, apiKey: 'unused' });
      const result = await generateText({
        model: openai(model),
        prompt: 'What is the weather in Lisbon?',
        tools: { get_weather: weather },
        providerOptions: { openai: { store: false } },
        stopWhen: ({ steps }) => steps.length >= 2,
      });
      assert.equal(result.steps.length, 2);
      const [call] = result.steps[0].toolCalls;
      assert.equal(call?.toolName, 'get_weather');
      assert.deepEqual(result.steps[0].toolResults[0]?.output, {
        city: (call?.input as { city: string } | undefined)?.city,
        temperatureC: 21,
      });
      assert.ok(result.text.length > 0);
    });
  }
});
