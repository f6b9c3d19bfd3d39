import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { TestGateway } from './helpers.js';
import { askMock, startSplitGateway } from './translate-helpers.js';

const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const lastReceived = (gw: TestGateway) => {
  const seen = gw.mock.received.at(-1);
  assert.ok(seen, 'the upstream received a request');
  return seen as { path: string; body: Record<string, unknown> };
};

describe('translation: openai SDK → claude-* model (Anthropic upstream)', () => {
  let gw: TestGateway;
  let client: OpenAI;
  before(async () => {
    gw = await startSplitGateway();
    client = new OpenAI({ baseURL: gw.v1, apiKey: 'sk-test', maxRetries: 0 });
  });
  after(() => gw.close());
  beforeEach(() => gw.mock.reset());

  it('JSON: the upstream gets a Messages request; the client parses a chat completion', async () => {
    const { data: res, response } = await client.chat.completions
      .create({
        model: 'claude-haiku-4-5',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Name a colour, please (json test).' },
        ],
        max_tokens: 60,
        temperature: 0.5,
        stop: ['END'],
        user: 'u-translate',
      })
      .withResponse();
    const seen = lastReceived(gw);
    assert.equal(seen.path, '/v1/messages');
    assert.deepEqual(seen.body, {
      model: 'claude-haiku-4-5',
      max_tokens: 60,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Name a colour, please (json test).' }],
      stop_sequences: ['END'],
      temperature: 0.5,
      metadata: { user_id: 'u-translate' },
    });
    const direct = await askMock(gw, '/v1/messages', seen.body);
    const directText = (direct.content as Array<{ text: string }>)[0].text;
    const directUsage = direct.usage as Record<string, number>;
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'claude-haiku-4-5');
    assert.equal(res.choices[0].message.content, directText);
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.equal(
      res.usage?.prompt_tokens,
      directUsage.input_tokens +
        directUsage.cache_read_input_tokens +
        directUsage.cache_creation_input_tokens,
    );
    assert.equal(res.usage?.completion_tokens, directUsage.output_tokens);
    assert.equal(response.headers.get('x-sluice-model'), 'claude-haiku-4-5');
  });

  it('stream: chunks carry the same text, the usage chunk only when asked, then [DONE]', async () => {
    const body = {
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user' as const, content: 'Tell me about rivers (stream test).' }],
    };
    const stream = await client.chat.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    const seen = lastReceived(gw);
    assert.equal(seen.path, '/v1/messages');
    assert.equal(seen.body.stream, true);
    assert.equal(seen.body.max_tokens, 4096, 'the configured default max_tokens');
    const direct = await askMock(gw, '/v1/messages', seen.body);
    assert.equal(text, (direct.content as Array<{ text: string }>)[0].text);
    assert.ok(finish === 'stop' || finish === 'length');
    assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0);

    const quiet = await client.chat.completions.create({ ...body, stream: true });
    let usageChunks = 0;
    for await (const chunk of quiet) if (chunk.usage) usageChunks++;
    assert.equal(usageChunks, 0, 'no usage chunk unless include_usage');
  });

  it('tool call round trip, several tool results in one turn', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ];
    const question = { role: 'user' as const, content: 'Weather in Paris and Rome? (tools test)' };
    const first = await client.chat.completions.create({
      model: 'claude-haiku-4-5',
      messages: [question],
      tools,
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    const sent = lastReceived(gw).body;
    assert.deepEqual(sent.tools, [
      {
        name: 'get_weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        description: 'Weather for a city',
      },
    ]);
    assert.deepEqual(sent.tool_choice, { type: 'any', disable_parallel_tool_use: true });
    const call = first.choices[0].message.tool_calls?.[0];
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.ok(call && call.type === 'function');
    assert.match(call.id, /^toolu_/);
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments) as Record<string, unknown>;

    const second = await client.chat.completions.create({
      model: 'claude-haiku-4-5',
      tools,
      messages: [
        question,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            call,
            {
              id: 'call_rome',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: call.id, content: 'Paris: 21C sunny' },
        { role: 'tool', tool_call_id: 'call_rome', content: 'Rome: 25C clear' },
      ],
    });
    const messages = lastReceived(gw).body.messages as unknown[];
    assert.deepEqual(messages.slice(1), [
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: call.id, name: 'get_weather', input: args },
          { type: 'tool_use', id: 'call_rome', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: call.id, content: 'Paris: 21C sunny' },
          { type: 'tool_result', tool_use_id: 'call_rome', content: 'Rome: 25C clear' },
        ],
      },
    ]);
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.ok(second.choices[0].message.content);
  });

  it('streamed tool call: tool_call deltas with index, id and name first', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-haiku-4-5',
      stream: true,
      messages: [{ role: 'user', content: 'Weather in Oslo? (stream tools)' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    const calls = new Map<number, { id?: string; name?: string; args: string }>();
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        finish = c.finish_reason ?? finish;
        for (const t of c.delta.tool_calls ?? []) {
          const acc = calls.get(t.index) ?? { args: '' };
          if (t.id) acc.id = t.id;
          if (t.function?.name) acc.name = t.function.name;
          acc.args += t.function?.arguments ?? '';
          calls.set(t.index, acc);
        }
      }
    }
    assert.equal(finish, 'tool_calls');
    const only = calls.get(0);
    assert.ok(only?.id?.startsWith('toolu_'));
    assert.equal(only?.name, 'get_weather');
    assert.equal(typeof JSON.parse(only?.args ?? ''), 'object');
  });

  it('image parts: a data URL becomes a base64 source, a URL a url source', async () => {
    await client.chat.completions.create({
      model: 'claude-haiku-4-5',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these images?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
    const messages = lastReceived(gw).body.messages as Array<{ content: unknown[] }>;
    assert.deepEqual(messages[0].content, [
      { type: 'text', text: 'What is in these images?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });

  it('a parameter Anthropic cannot honour is a 400 naming it, and nothing goes upstream', async () => {
    await assert.rejects(
      client.chat.completions.create({
        model: 'claude-haiku-4-5',
        messages: [{ role: 'user', content: 'two answers please' }],
        n: 2,
      }),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.BadRequestError);
        assert.equal((e.error as { param?: string }).param, 'n');
        assert.match(e.message, /^400 n: cannot be sent to an Anthropic model/);
        return true;
      },
    );
    assert.equal(gw.mock.received.length, 0);
  });

  it("an upstream error reaches the client in OpenAI's shape with its status", async () => {
    await assert.rejects(
      client.chat.completions.create(
        { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'fail please' }] },
        { headers: { 'x-mock-fault': '429', 'x-mock-retry-after': '0' } },
      ),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.RateLimitError);
        assert.equal((e.error as { type?: string }).type, 'rate_limit_error');
        return true;
      },
    );
    assert.equal(lastReceived(gw).path, '/v1/messages');
  });

  it('a stream cut mid-way ends with an error event the openai SDK raises', async () => {
    const stream = await client.chat.completions.create(
      {
        model: 'claude-haiku-4-5',
        stream: true,
        messages: [{ role: 'user', content: 'A long story about the sea, please (cut test).' }],
      },
      { headers: { 'x-mock-fault': 'drop-mid-stream' } },
    );
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
      (e: unknown) => {
        assert.ok(e instanceof OpenAI.APIError, `an APIError, got ${String(e)}`);
        assert.match(e.message, /upstream/);
        return true;
      },
    );
    assert.ok(text.length > 0, 'some text arrived before the cut');
  });

  it('a repeated request is an exact-cache hit replayed as a chat completion', async () => {
    const body = {
      model: 'claude-haiku-4-5',
      temperature: 0,
      messages: [{ role: 'user' as const, content: 'Cache me (translation cache test).' }],
    };
    const first = await client.chat.completions.create(body).withResponse();
    const second = await client.chat.completions.create(body).withResponse();
    assert.equal(second.response.headers.get('x-sluice-cache'), 'exact');
    assert.equal(gw.mock.received.length, 1);
    assert.equal(second.data.choices[0].message.content, first.data.choices[0].message.content);
    const streamed = await client.chat.completions.create({ ...body, stream: true });
    let text = '';
    for await (const chunk of streamed) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, first.data.choices[0].message.content);
    assert.equal(gw.mock.received.length, 1);
  });
});

describe('translation: cache and cost', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startSplitGateway();
  });
  after(() => gw.close());
  beforeEach(() => gw.mock.reset());

  const post = (path: string, body: unknown) =>
    fetch(gw.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(body),
    });

  it("prices a translated call as the answering model's own call", async () => {
    const translated = await post('/v1/chat/completions', {
      model: 'claude-haiku-4-5',
      max_tokens: 40,
      messages: [{ role: 'user', content: 'Price me (cost test).' }],
    });
    assert.equal(translated.status, 200);
    await translated.json();
    const native = await post('/v1/messages', lastReceived(gw).body);
    assert.equal(native.status, 200);
    await native.json();
    const cost = translated.headers.get('x-sluice-cost-usd');
    assert.ok(cost && Number(cost) > 0, `a priced cost, got ${cost}`);
    assert.equal(cost, native.headers.get('x-sluice-cost-usd'));
  });

  it('a streamed miss is stored in the client dialect and answers a JSON request (both directions)', async () => {
    const chatBody = {
      model: 'claude-haiku-4-5',
      temperature: 0,
      messages: [{ role: 'user', content: 'Store my stream (cache stream test).' }],
    };
    const streamed = await post('/v1/chat/completions', { ...chatBody, stream: true });
    const sse = await streamed.text();
    assert.match(sse, /data: \[DONE\]\n\n$/);
    const hit = await post('/v1/chat/completions', chatBody);
    assert.equal(hit.headers.get('x-sluice-cache'), 'exact');
    const completion = (await hit.json()) as {
      object: string;
      choices: Array<{ message: { content: string } }>;
    };
    assert.equal(completion.object, 'chat.completion');
    const streamedText = sse
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map(
        (e) =>
          (JSON.parse(e.slice(6)) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta
            .content ?? '',
      )
      .join('');
    assert.equal(completion.choices[0].message.content, streamedText);

    const messagesBody = {
      model: 'gpt-4o-mini',
      max_tokens: 100,
      temperature: 0,
      messages: [{ role: 'user', content: 'Store my stream too (cache stream test).' }],
    };
    const streamed2 = await post('/v1/messages', { ...messagesBody, stream: true });
    assert.match(await streamed2.text(), /event: message_stop\n/);
    const hit2 = await post('/v1/messages', messagesBody);
    assert.equal(hit2.headers.get('x-sluice-cache'), 'exact');
    const message = (await hit2.json()) as { type: string; content: Array<{ type: string }> };
    assert.equal(message.type, 'message');
    assert.equal(message.content[0].type, 'text');
    assert.equal(gw.mock.received.length, 2, 'each dialect went upstream once');
  });
});

describe('translation: @anthropic-ai/sdk → gpt-* model (OpenAI upstream)', () => {
  let gw: TestGateway;
  let client: Anthropic;
  before(async () => {
    gw = await startSplitGateway();
    client = new Anthropic({ baseURL: gw.url, apiKey: 'sk-ant-test', maxRetries: 0 });
  });
  after(() => gw.close());
  beforeEach(() => gw.mock.reset());

  it('JSON: the upstream gets a chat completion request; the client parses a message', async () => {
    // temperature is in the Messages API but not in this SDK version's param type.
    const body = {
      model: 'gpt-4o-mini',
      max_tokens: 80,
      system: 'Be brief.',
      messages: [{ role: 'user' as const, content: 'Name a fruit (json test).' }],
      stop_sequences: ['END'],
      temperature: 0.2,
      metadata: { user_id: 'u-ant' },
    };
    const res = await client.messages.create(body);
    const seen = lastReceived(gw);
    assert.equal(seen.path, '/v1/chat/completions');
    assert.deepEqual(seen.body, {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Name a fruit (json test).' },
      ],
      max_completion_tokens: 80,
      stop: ['END'],
      temperature: 0.2,
      user: 'u-ant',
    });
    const direct = await askMock(gw, '/v1/chat/completions', seen.body);
    const choice = (direct.choices as Array<{ message: { content: string } }>)[0];
    const directUsage = direct.usage as { prompt_tokens: number; completion_tokens: number };
    assert.equal(res.type, 'message');
    assert.equal(res.model, 'gpt-4o-mini');
    assert.deepEqual(res.content, [{ type: 'text', text: choice.message.content }]);
    assert.equal(res.stop_reason, 'end_turn');
    assert.equal(res.usage.input_tokens, directUsage.prompt_tokens);
    assert.equal(res.usage.cache_read_input_tokens, 0);
    assert.equal(res.usage.output_tokens, directUsage.completion_tokens);
  });

  it('stream: message events carry the same text and the usage at the end', async () => {
    const stream = client.messages.stream({
      model: 'gpt-4o-mini',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Tell me about mountains (stream test).' }],
    });
    const events: string[] = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const message = await stream.finalMessage();
    const seen = lastReceived(gw);
    assert.equal(seen.path, '/v1/chat/completions');
    assert.deepEqual(seen.body.stream_options, { include_usage: true });
    const direct = await askMock(gw, '/v1/chat/completions', seen.body);
    const choice = (direct.choices as Array<{ message: { content: string } }>)[0];
    assert.deepEqual(message.content, [{ type: 'text', text: choice.message.content }]);
    assert.equal(events[0], 'message_start');
    assert.equal(events.at(-1), 'message_stop');
    assert.ok(events.includes('content_block_delta'));
    assert.equal(message.stop_reason, 'end_turn');
    assert.equal(message.usage.input_tokens, (direct.usage as { prompt_tokens: number }).prompt_tokens);
    assert.ok(message.usage.output_tokens > 0);
  });

  it('tool call round trip, several tool results in one turn', async () => {
    const tools: Anthropic.Tool[] = [
      {
        name: 'get_weather',
        description: 'Weather for a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ];
    const question = { role: 'user' as const, content: 'Weather in Lima and Quito? (tools test)' };
    const first = await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      messages: [question],
      tools,
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    const sent = lastReceived(gw).body;
    assert.deepEqual(sent.tools, [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          description: 'Weather for a city',
        },
      },
    ]);
    assert.equal(sent.tool_choice, 'required');
    assert.equal(sent.parallel_tool_calls, false);
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((b) => b.type === 'tool_use');
    assert.ok(use && use.type === 'tool_use');
    assert.match(use.id, /^call_/);
    assert.equal(use.name, 'get_weather');
    assert.equal(typeof use.input, 'object');

    const second = await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      tools,
      messages: [
        question,
        {
          role: 'assistant',
          content: [
            use,
            { type: 'tool_use', id: 'toolu_quito', name: 'get_weather', input: { city: 'Quito' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: use.id, content: 'Lima: 19C' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_quito',
              content: [{ type: 'text', text: 'Quito: 14C' }],
            },
          ],
        },
      ],
    });
    const messages = lastReceived(gw).body.messages as unknown[];
    assert.deepEqual(messages.slice(1), [
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: use.id,
            type: 'function',
            function: { name: 'get_weather', arguments: JSON.stringify(use.input) },
          },
          {
            id: 'toolu_quito',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Quito"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: use.id, content: 'Lima: 19C' },
      { role: 'tool', tool_call_id: 'toolu_quito', content: [{ type: 'text', text: 'Quito: 14C' }] },
    ]);
    assert.equal(second.stop_reason, 'end_turn');
    assert.equal(second.content[0]?.type, 'text');
  });

  it('streamed tool call: a tool_use block with input_json_delta', async () => {
    const message = await client.messages
      .stream({
        model: 'gpt-4o-mini',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'Weather in Bern? (stream tools)' }],
        tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
      })
      .finalMessage();
    assert.equal(message.stop_reason, 'tool_use');
    const use = message.content.find((b) => b.type === 'tool_use');
    assert.ok(use && use.type === 'tool_use');
    assert.equal(use.name, 'get_weather');
    assert.equal(typeof use.input, 'object');
  });

  it('image blocks: a base64 source becomes a data URL, a url source the URL', async () => {
    await client.messages.create({
      model: 'gpt-4o-mini',
      max_tokens: 50,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe these.' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/dog.webp' } },
          ],
        },
      ],
    });
    const messages = lastReceived(gw).body.messages as Array<{ content: unknown }>;
    assert.deepEqual(messages[0].content, [
      { type: 'text', text: 'Describe these.' },
      { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
      { type: 'image_url', image_url: { url: 'https://example.com/dog.webp' } },
    ]);
  });

  it('a parameter OpenAI cannot honour is a 400 naming it, and nothing goes upstream', async () => {
    const topK = {
      model: 'gpt-4o-mini',
      max_tokens: 50,
      top_k: 5,
      messages: [{ role: 'user' as const, content: 'hi' }],
    };
    await assert.rejects(client.messages.create(topK), (e: unknown) => {
      assert.ok(e instanceof Anthropic.BadRequestError);
      assert.match(e.message, /top_k: cannot be sent to an OpenAI model/);
      return true;
    });
    assert.equal(gw.mock.received.length, 0);
  });

  it("an upstream error reaches the client in Anthropic's shape with its status", async () => {
    await assert.rejects(
      client.messages.create(
        { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'fail please' }] },
        { headers: { 'x-mock-fault': '403' } },
      ),
      (e: unknown) => {
        assert.ok(e instanceof Anthropic.PermissionDeniedError);
        assert.equal((e.error as { error?: { type?: string } }).error?.type, 'permission_error');
        return true;
      },
    );
  });

  it('a stream cut mid-way ends with an error event the Anthropic SDK raises', async () => {
    const stream = client.messages.stream(
      {
        model: 'gpt-4o-mini',
        max_tokens: 300,
        messages: [{ role: 'user', content: 'A long story about forests, please (cut test).' }],
      },
      { headers: { 'x-mock-fault': 'drop-mid-stream' } },
    );
    let text = '';
    stream.on('text', (t) => {
      text += t;
    });
    await assert.rejects(stream.finalMessage(), (e: unknown) => {
      assert.ok(e instanceof Anthropic.APIError, `an APIError, got ${String(e)}`);
      assert.match(e.message, /upstream/);
      return true;
    });
    assert.ok(text.length > 0, 'some text arrived before the cut');
  });
});
