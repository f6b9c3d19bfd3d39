import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { countTokens } from 'gpt-tokenizer';
import { type MockUpstream, startMockUpstream } from '../src/mock/index.js';
import { postJson, postStream, userChat, userMessage, weatherTool } from './mock-helpers.js';

const tool = {
  name: weatherTool.name,
  description: weatherTool.description,
  input_schema: weatherTool.parameters,
};
const HEADERS = { 'anthropic-version': '2023-06-01' };

describe('mock upstream: Anthropic messages', () => {
  let mock: MockUpstream;
  let url: string;
  before(async () => {
    mock = await startMockUpstream({ promptCacheMinTokens: 50 });
    url = `${mock.url}/v1/messages`;
  });
  after(() => mock.close());

  it('answers deterministically in the Messages shape, with usage from gpt-tokenizer', async () => {
    const a = await postJson(url, userMessage('Why is the sky blue?'), HEADERS);
    const b = await postJson(url, userMessage('Why is the sky blue?'), HEADERS);
    const c = await postJson(url, userMessage('Why is grass green?'), HEADERS);
    assert.equal(a.status, 200);
    assert.match(a.json.id, /^msg_/);
    assert.notEqual(a.json.id, b.json.id);
    assert.equal(a.json.type, 'message');
    assert.equal(a.json.role, 'assistant');
    assert.equal(a.json.model, 'claude-haiku-4-5');
    assert.equal(a.json.stop_reason, 'end_turn');
    assert.equal(a.json.stop_sequence, null);
    const text = a.json.content[0].text as string;
    assert.equal(a.json.content[0].type, 'text');
    assert.equal(b.json.content[0].text, text);
    assert.notEqual(c.json.content[0].text, text);
    assert.equal(a.json.usage.output_tokens, countTokens(text));
    assert.ok(a.json.usage.input_tokens > 0);
    assert.equal(a.json.usage.cache_creation_input_tokens, 0);
    assert.equal(a.json.usage.cache_read_input_tokens, 0);
  });

  it('gives the same reply to the same conversation in either dialect', async () => {
    const question = 'Translate me between dialects';
    const openai = await postJson(`${mock.url}/v1/chat/completions`, {
      model: 'x',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: question },
      ],
    });
    const anthropic = await postJson(url, { ...userMessage(question), system: 'Be brief.' });
    assert.equal(anthropic.json.content[0].text, openai.json.choices[0].message.content);
  });

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    const res = await postJson(url, userMessage('Tell me a long story', { max_tokens: 6 }));
    assert.equal(res.json.stop_reason, 'max_tokens');
    assert.equal(res.json.usage.output_tokens, 6);
    assert.equal(countTokens(res.json.content[0].text), 6);
  });

  it("streams exactly Anthropic's event sequence", async () => {
    const body = userMessage('Stream me a reply');
    const whole = await postJson(url, body);
    const { headers, events } = await postStream(url, { ...body, stream: true });
    assert.match(headers.get('content-type') ?? '', /^text\/event-stream/);
    const names = events.map((e) => e.event);
    const deltas = names.filter((n) => n === 'content_block_delta').length;
    assert.ok(deltas > 10);
    assert.deepEqual(names, [
      'message_start',
      'content_block_start',
      'ping',
      ...Array(deltas).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const data = events.map((e) => JSON.parse(e.data));
    assert.deepEqual(
      data.map((d) => d.type),
      names,
      'each data.type matches its event name',
    );
    const start = data[0].message;
    assert.match(start.id, /^msg_/);
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.equal(start.usage.input_tokens, whole.json.usage.input_tokens);
    assert.deepEqual(data[1].content_block, { type: 'text', text: '' });
    const text = data
      .filter((d) => d.type === 'content_block_delta')
      .map((d) => {
        assert.equal(d.delta.type, 'text_delta');
        return d.delta.text;
      })
      .join('');
    assert.equal(text, whole.json.content[0].text);
    const messageDelta = data.at(-2);
    assert.equal(messageDelta.delta.stop_reason, 'end_turn');
    assert.equal(messageDelta.usage.output_tokens, countTokens(text));
  });

  it('answers with a tool_use block, streamed as input_json_delta', async () => {
    const body = userMessage('What is the weather in Lisbon?', { tools: [tool] });
    const whole = await postJson(url, body);
    assert.equal(whole.json.stop_reason, 'tool_use');
    const block = whole.json.content[0];
    assert.equal(block.type, 'tool_use');
    assert.match(block.id, /^toolu_/);
    assert.equal(block.name, 'get_weather');
    assert.equal(block.input.city, 'Lisbon');

    const { events } = await postStream(url, { ...body, stream: true });
    const data = events.map((e) => JSON.parse(e.data));
    assert.equal(data[1].content_block.type, 'tool_use');
    assert.equal(data[1].content_block.name, 'get_weather');
    assert.deepEqual(data[1].content_block.input, {});
    const json = data
      .filter((d) => d.type === 'content_block_delta')
      .map((d) => {
        assert.equal(d.delta.type, 'input_json_delta');
        return d.delta.partial_json;
      })
      .join('');
    assert.deepEqual(JSON.parse(json), block.input);
    assert.equal(data.at(-2).delta.stop_reason, 'tool_use');
  });

  it('answers a tool_result with text, and honours tool_choice none and tool', async () => {
    const first = await postJson(url, userMessage('Weather in Kyiv?', { tools: [tool] }));
    const use = first.json.content[0];
    const res = await postJson(url, {
      ...userMessage('Weather in Kyiv?', { tools: [tool] }),
      messages: [
        { role: 'user', content: 'Weather in Kyiv?' },
        { role: 'assistant', content: [use] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny, 21C' }] },
      ],
    });
    assert.equal(res.json.stop_reason, 'end_turn');
    assert.equal(res.json.content[0].type, 'text');

    const none = await postJson(
      url,
      userMessage('Weather in Kyiv?', { tools: [tool], tool_choice: { type: 'none' } }),
    );
    assert.equal(none.json.content[0].type, 'text');
    const other = { name: 'search', input_schema: { type: 'object', properties: { q: { type: 'string' } } } };
    const named = await postJson(
      url,
      userMessage('Find Kyiv', { tools: [tool, other], tool_choice: { type: 'tool', name: 'search' } }),
    );
    assert.equal(named.json.content[0].name, 'search');
    assert.equal(typeof named.json.content[0].input.q, 'string');
  });

  it('reports cache_creation on first sight of a cache_control prefix, cache_read after', async () => {
    const system = [
      {
        type: 'text',
        text: 'You are a careful assistant. '.repeat(30),
        cache_control: { type: 'ephemeral' },
      },
    ];
    const first = await postJson(url, { ...userMessage('First question'), system });
    const second = await postJson(url, { ...userMessage('Second question'), system });
    const u1 = first.json.usage;
    const u2 = second.json.usage;
    assert.ok(u1.cache_creation_input_tokens > 50, JSON.stringify(u1));
    assert.equal(u1.cache_read_input_tokens, 0);
    assert.equal(u2.cache_read_input_tokens, u1.cache_creation_input_tokens);
    assert.equal(u2.cache_creation_input_tokens, 0);
    // Every prompt token is billed once, as plain input, cache write or cache read.
    const plain = await postJson(url, { ...userMessage('Second question'), system: system[0].text });
    assert.equal(u2.input_tokens + u2.cache_read_input_tokens, plain.json.usage.input_tokens);
  });

  it('reads earlier turns when the breakpoint moves to the newest turn', async () => {
    const system = 'You answer questions about rivers. '.repeat(30);
    const marked = (text: string) => [{ type: 'text', text, cache_control: { type: 'ephemeral' } }];
    const first = await postJson(url, {
      ...userMessage(''),
      system,
      messages: [{ role: 'user', content: marked('Longest river?') }],
    });
    const u1 = first.json.usage;
    assert.ok(u1.cache_creation_input_tokens > 50);
    const second = await postJson(url, {
      ...userMessage(''),
      system,
      messages: [
        { role: 'user', content: 'Longest river?' },
        { role: 'assistant', content: first.json.content[0].text },
        { role: 'user', content: marked('And the widest?') },
      ],
    });
    const u2 = second.json.usage;
    assert.equal(u2.cache_read_input_tokens, u1.cache_creation_input_tokens, 'the first turn is read back');
    assert.ok(u2.cache_creation_input_tokens > 0, 'the new turns are written');
  });

  it('does not cache prefixes shorter than the minimum', async () => {
    const system = [{ type: 'text', text: 'Short.', cache_control: { type: 'ephemeral' } }];
    await postJson(url, { ...userMessage('q1'), system });
    const again = await postJson(url, { ...userMessage('q1'), system });
    assert.equal(again.json.usage.cache_read_input_tokens, 0);
    assert.equal(again.json.usage.cache_creation_input_tokens, 0);
  });

  it('rejects bad requests in Anthropic error shape', async () => {
    const cases: unknown[] = [
      '{oops',
      { max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
      { model: 'claude-haiku-4-5', max_tokens: 10 },
      { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'hi' }] },
      { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'system', content: 'hi' }] },
    ];
    for (const body of cases) {
      const res = await postJson(url, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.json.type, 'error');
      assert.equal(res.json.error.type, 'invalid_request_error');
      assert.equal(typeof res.json.error.message, 'string');
    }
    const wrongDialect = await postJson(url, userChat('hi'));
    assert.equal(wrongDialect.status, 400, 'an OpenAI body lacks max_tokens');
  });
});

describe('mock upstream: api key', () => {
  it('requires the key as Bearer or x-api-key, and answers 401 in each dialect', async () => {
    const mock = await startMockUpstream({ apiKey: 'sk-test' });
    try {
      const chatUrl = `${mock.url}/v1/chat/completions`;
      const noKey = await postJson(chatUrl, userChat('hi'));
      assert.equal(noKey.status, 401);
      assert.equal(noKey.json.error.code, 'invalid_api_key');
      assert.equal(
        (await postJson(chatUrl, userChat('hi'), { authorization: 'Bearer sk-test' })).status,
        200,
      );
      const msgUrl = `${mock.url}/v1/messages`;
      const wrong = await postJson(msgUrl, userMessage('hi'), { 'x-api-key': 'nope' });
      assert.equal(wrong.status, 401);
      assert.deepEqual(wrong.json, {
        type: 'error',
        error: { type: 'authentication_error', message: 'invalid x-api-key' },
      });
      assert.equal((await postJson(msgUrl, userMessage('hi'), { 'x-api-key': 'sk-test' })).status, 200);
      assert.equal((await fetch(`${mock.url}/v1/models`)).status, 401);
      assert.deepEqual(mock.counts().total, 2);
    } finally {
      await mock.close();
    }
  });
});
