import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { countTokens } from 'gpt-tokenizer';
import { type MockUpstream, startMockUpstream } from '../src/mock/index.js';
import { type Body, postJson, postStream, userChat, weatherTool } from './mock-helpers.js';

const tool = { type: 'function', function: weatherTool };

describe('mock upstream: OpenAI chat completions', () => {
  let mock: MockUpstream;
  let url: string;
  before(async () => {
    mock = await startMockUpstream();
    url = `${mock.url}/v1/chat/completions`;
  });
  after(() => mock.close());

  it('answers the same request with the same text, a different prompt with a different one', async () => {
    const a = await postJson(url, userChat('What is the capital of France?'));
    const b = await postJson(url, userChat('What is the capital of France?'));
    const c = await postJson(url, userChat('How do I sort a list in Python?'));
    assert.equal(a.status, 200);
    const text = a.json.choices[0].message.content as string;
    assert.equal(b.json.choices[0].message.content, text);
    assert.notEqual(c.json.choices[0].message.content, text);
    assert.ok(text.includes('What is the capital of France?'), 'echoes the question');
    assert.notEqual(a.json.id, b.json.id, 'ids are unique per response');
    assert.match(a.json.id, /^chatcmpl-/);
    assert.equal(a.json.object, 'chat.completion');
    assert.equal(a.json.model, 'gpt-4o-mini', 'echoes the requested model');
    assert.equal(a.json.choices[0].finish_reason, 'stop');
  });

  it('reports usage counted with gpt-tokenizer', async () => {
    const res = await postJson(url, userChat('Tell me something about tokenizers.'));
    const text = res.json.choices[0].message.content as string;
    const usage = res.json.usage;
    assert.equal(usage.completion_tokens, countTokens(text));
    assert.ok(
      usage.completion_tokens >= 20 && usage.completion_tokens <= 70,
      `${usage.completion_tokens} tokens`,
    );
    // The prompt count includes the message text plus per-message framing.
    assert.ok(usage.prompt_tokens > countTokens('Tell me something about tokenizers.'));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.prompt_tokens_details.cached_tokens, 0);
    const longer = await postJson(url, userChat('Tell me something about tokenizers. '.repeat(20)));
    assert.ok(
      longer.json.usage.prompt_tokens > usage.prompt_tokens + 100,
      'prompt tokens grow with the prompt',
    );
  });

  it('caps the reply at max_tokens / max_completion_tokens with finish_reason length', async () => {
    const full = await postJson(url, userChat('Explain caching in detail.'));
    for (const cap of [{ max_tokens: 5 }, { max_completion_tokens: 7 }]) {
      const limit = Object.values(cap)[0];
      const res = await postJson(url, userChat('Explain caching in detail.', cap));
      const text = res.json.choices[0].message.content as string;
      assert.equal(res.json.choices[0].finish_reason, 'length');
      assert.equal(res.json.usage.completion_tokens, limit);
      assert.equal(countTokens(text), limit);
      assert.ok(
        (full.json.choices[0].message.content as string).startsWith(text),
        'a prefix of the full reply',
      );
    }
    const roomy = await postJson(url, userChat('Explain caching in detail.', { max_tokens: 500 }));
    assert.equal(roomy.json.choices[0].finish_reason, 'stop');
  });

  it('returns n distinct choices, usage summed over them', async () => {
    const res = await postJson(url, userChat('Give me options.', { n: 3 }));
    const choices = res.json.choices as Body[];
    assert.deepEqual(
      choices.map((c) => c.index),
      [0, 1, 2],
    );
    assert.equal(new Set(choices.map((c) => c.message.content)).size, 3);
    const sum = choices.reduce((n, c) => n + countTokens(c.message.content), 0);
    assert.equal(res.json.usage.completion_tokens, sum);
  });

  it('streams chunks that rebuild the non-stream reply, ending with [DONE]', async () => {
    const body = userChat('Stream this answer please.');
    const whole = await postJson(url, body);
    const { status, headers, events } = await postStream(url, { ...body, stream: true });
    assert.equal(status, 200);
    assert.match(headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(events.at(-1)?.data, '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    assert.ok(chunks.length > 10, 'one chunk per token');
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.ok(
      chunks.every((c) => c.usage === undefined),
      'no usage without include_usage',
    );
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.deepEqual(last.choices[0].delta, {});
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
    const text = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    assert.equal(text, whole.json.choices[0].message.content);
  });

  it('streams non-ASCII text in valid pieces and treats special-token text as plain text', async () => {
    const body = userChat('请解释一下缓存 🎉 <|endoftext|> 是什么?');
    const whole = await postJson(url, body);
    assert.equal(whole.status, 200);
    const { events } = await postStream(url, { ...body, stream: true });
    const pieces = events.slice(0, -1).map((e) => JSON.parse(e.data).choices[0].delta.content ?? '');
    assert.ok(
      pieces.every((p) => !p.includes('\uFFFD')),
      'no broken characters',
    );
    assert.equal(pieces.join(''), whole.json.choices[0].message.content);
    assert.ok(pieces.join('').includes('缓存'));
  });

  it('sends a usage chunk with empty choices when stream_options.include_usage is set', async () => {
    const body = userChat('Count my tokens.', {
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 9,
    });
    const { events } = await postStream(url, body);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    const usageChunk = chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.equal(usageChunk.usage.completion_tokens, 9);
    assert.ok(
      chunks.slice(0, -1).every((c) => c.usage === null),
      'earlier chunks carry usage: null',
    );
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    assert.equal(countTokens(text), usageChunk.usage.completion_tokens);
  });

  it('interleaves the chunks of n streamed choices', async () => {
    const { events } = await postStream(url, userChat('Two ways please.', { n: 2, stream: true }));
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    const texts = ['', ''];
    for (const c of chunks) texts[c.choices[0].index] += c.choices[0].delta.content ?? '';
    const whole = await postJson(url, userChat('Two ways please.', { n: 2 }));
    assert.deepEqual(
      texts,
      whole.json.choices.map((c: Body) => c.message.content),
    );
    assert.equal(chunks.filter((c) => c.choices[0].finish_reason === 'stop').length, 2);
  });

  it('calls the first tool with arguments that satisfy its schema', async () => {
    const res = await postJson(url, userChat('What is the weather in Paris?', { tools: [tool] }));
    const choice = res.json.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls[0];
    assert.match(call.id, /^call_/);
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(args.city, 'Paris', 'string arguments come from the question');
    assert.ok(Number.isInteger(args.days) && args.days >= 1 && args.days <= 7);
    assert.ok(['celsius', 'fahrenheit'].includes(args.unit));
  });

  it('honours tool_choice: a named tool, or none', async () => {
    const other = {
      type: 'function',
      function: { name: 'lookup', parameters: { type: 'object', properties: {} } },
    };
    const named = await postJson(
      url,
      userChat('Look it up', {
        tools: [tool, other],
        tool_choice: { type: 'function', function: { name: 'lookup' } },
      }),
    );
    assert.equal(named.json.choices[0].message.tool_calls[0].function.name, 'lookup');
    assert.equal(named.json.choices[0].message.tool_calls[0].function.arguments, '{}');
    const none = await postJson(url, userChat('Look it up', { tools: [tool], tool_choice: 'none' }));
    assert.equal(none.json.choices[0].finish_reason, 'stop');
    assert.equal(typeof none.json.choices[0].message.content, 'string');
  });

  it('answers a tool result with text', async () => {
    const first = await postJson(url, userChat('Weather in Oslo?', { tools: [tool] }));
    const call = first.json.choices[0].message.tool_calls[0];
    const res = await postJson(url, {
      model: 'gpt-4o-mini',
      tools: [tool],
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temp": -3, "sky": "snow"}' },
      ],
    });
    assert.equal(res.json.choices[0].finish_reason, 'stop');
    assert.ok((res.json.choices[0].message.content as string).includes('temp'), 'refers to the tool result');
  });

  it('streams a tool call in OpenAI delta format: id and name first, then argument fragments', async () => {
    const body = userChat('What is the weather in Rome?', { tools: [tool] });
    const whole = await postJson(url, body);
    const { events } = await postStream(url, { ...body, stream: true });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    const first = chunks[0].choices[0].delta;
    assert.equal(first.role, 'assistant');
    assert.match(first.tool_calls[0].id, /^call_/);
    assert.equal(first.tool_calls[0].function.name, 'get_weather');
    assert.equal(first.tool_calls[0].function.arguments, '');
    const fragments = chunks.slice(1, -1).map((c) => {
      const d = c.choices[0].delta.tool_calls[0];
      assert.equal(d.index, 0);
      assert.equal(d.id, undefined);
      return d.function.arguments as string;
    });
    assert.ok(fragments.length > 1, 'arguments arrive in fragments');
    assert.equal(fragments.join(''), whole.json.choices[0].message.tool_calls[0].function.arguments);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
  });

  it('answers response_format json_schema with JSON that fits the schema', async () => {
    const schema = {
      type: 'object',
      properties: { title: { type: 'string' }, score: { type: 'number', minimum: 0, maximum: 1 } },
      required: ['title', 'score'],
    };
    const res = await postJson(
      url,
      userChat('Rate this film', {
        response_format: { type: 'json_schema', json_schema: { name: 'r', schema } },
      }),
    );
    const value = JSON.parse(res.json.choices[0].message.content);
    assert.equal(typeof value.title, 'string');
    assert.ok(value.score >= 0 && value.score <= 1);
  });

  it('rejects bad requests in OpenAI error shape', async () => {
    const cases: Array<[unknown, string | null]> = [
      ['{not json', null],
      [{ messages: [{ role: 'user', content: 'hi' }] }, null],
      [{ model: 'gpt-4o' }, 'messages'],
      [{ model: 'gpt-4o', messages: [] }, 'messages'],
      [userChat('hi', { max_tokens: 0 }), 'max_tokens'],
    ];
    for (const [body, param] of cases) {
      const res = await postJson(url, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.error.type, 'invalid_request_error');
      assert.equal(typeof res.json.error.message, 'string');
      assert.equal(res.json.error.param, param);
      assert.ok('code' in res.json.error);
    }
    const missing = await fetch(`${mock.url}/v1/nope`, { method: 'POST' });
    assert.equal(missing.status, 404);
  });

  it('lists models', async () => {
    const res = await fetch(`${mock.url}/v1/models`);
    const body = (await res.json()) as Body;
    assert.equal(body.object, 'list');
    assert.ok(body.data.some((m: Body) => m.id === 'gpt-4o-mini'));
    const anthropic = (await (
      await fetch(`${mock.url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } })
    ).json()) as Body;
    assert.ok(anthropic.data.every((m: Body) => m.type === 'model' && m.id.startsWith('claude')));
  });
});

describe('mock upstream: embeddings', () => {
  let mock: MockUpstream;
  let url: string;
  before(async () => {
    mock = await startMockUpstream();
    url = `${mock.url}/v1/embeddings`;
  });
  after(() => mock.close());

  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

  it('returns deterministic unit vectors, 1536 dimensions by default', async () => {
    const a = await postJson(url, { model: 'text-embedding-3-small', input: 'hello world' });
    const b = await postJson(url, { model: 'text-embedding-3-small', input: ['hello world', 'goodbye'] });
    const va = a.json.data[0].embedding as number[];
    assert.equal(va.length, 1536);
    assert.ok(Math.abs(norm(va) - 1) < 1e-6);
    assert.deepEqual(b.json.data[0].embedding, va);
    assert.equal(b.json.data[1].index, 1);
    const vb = b.json.data[1].embedding as number[];
    const cosine = va.reduce((s, x, i) => s + x * vb[i], 0);
    assert.ok(Math.abs(cosine) < 0.2, 'different inputs point in unrelated directions');
    assert.equal(a.json.usage.prompt_tokens, countTokens('hello world'));
    assert.equal(b.json.usage.prompt_tokens, countTokens('hello world') + countTokens('goodbye'));
    assert.equal(a.json.model, 'text-embedding-3-small');
  });

  it('honours dimensions and base64 encoding', async () => {
    const floats = await postJson(url, { model: 'm', input: 'abc', dimensions: 256 });
    const v = floats.json.data[0].embedding as number[];
    assert.equal(v.length, 256);
    assert.ok(Math.abs(norm(v) - 1) < 1e-6);
    const b64 = await postJson(url, { model: 'm', input: 'abc', dimensions: 256, encoding_format: 'base64' });
    const bytes = Buffer.from(b64.json.data[0].embedding as string, 'base64');
    const decoded = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.equal(decoded.length, 256);
    const worst = decoded.reduce((m, x, i) => Math.max(m, Math.abs(x - v[i])), 0);
    assert.ok(worst < 1e-6, `base64 and float agree (max diff ${worst})`);
  });

  it('rejects a missing input', async () => {
    const res = await postJson(url, { model: 'm' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error.param, 'input');
  });
});
