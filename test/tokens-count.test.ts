import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeChat } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { createContext } from '../src/pipeline/context.js';
import {
  countChatTokens,
  countRequestTokens,
  countText,
  encodingFor,
  promptTokens,
} from '../src/tokens/count.js';

const weatherTools = [
  {
    type: 'function',
    function: {
      name: 'get_current_weather',
      description: 'Get the current weather in a given location',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
          unit: {
            type: 'string',
            description: 'The unit of temperature to return',
            enum: ['celsius', 'fahrenheit'],
          },
        },
        required: ['location'],
      },
    },
  },
];
const weatherMessages = [
  { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
  { role: 'user', content: "What's the weather like in San Francisco?" },
];

describe('token counting', () => {
  it('picks the encoding per OpenAI model and none for other models', () => {
    assert.equal(encodingFor('gpt-4o'), 'o200k_base');
    assert.equal(encodingFor('gpt-4o-2024-08-06'), 'o200k_base');
    assert.equal(encodingFor('gpt-4.1-mini'), 'o200k_base');
    assert.equal(encodingFor('o3-mini'), 'o200k_base');
    assert.equal(encodingFor('gpt-5'), 'o200k_base');
    assert.equal(encodingFor('gpt-4'), 'cl100k_base');
    assert.equal(encodingFor('gpt-4-0613'), 'cl100k_base');
    assert.equal(encodingFor('gpt-3.5-turbo'), 'cl100k_base');
    assert.equal(encodingFor('text-embedding-3-small'), 'cl100k_base');
    assert.equal(encodingFor('claude-sonnet-4-20250514'), undefined);
    assert.equal(encodingFor('qwen-plus'), undefined);
  });

  it('matches the chat framing of gpt-tokenizer encodeChat for gpt-4o (3 per message + 3 priming)', () => {
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Translate "good morning" into French, please.' },
      { role: 'assistant', content: 'Bonjour !' },
      { role: 'user', content: 'And into German?' },
    ] as const;
    const expected = encodeChat(messages, 'gpt-4o').length;
    assert.equal(countChatTokens('openai', { model: 'gpt-4o', messages }).tokens, expected);
  });

  it('counts tool definitions like the OpenAI API (cookbook values: 101 for gpt-4o, 105 for gpt-4)', () => {
    // Values from the OpenAI cookbook "How to count tokens with tiktoken", checked there against the API's usage.
    const o = countChatTokens('openai', { model: 'gpt-4o', messages: weatherMessages, tools: weatherTools });
    assert.deepEqual(o, { tokens: 101, estimated: false });
    const mini = countChatTokens('openai', {
      model: 'gpt-4o-mini',
      messages: weatherMessages,
      tools: weatherTools,
    });
    assert.equal(mini.tokens, 101);
    const g4 = countChatTokens('openai', { model: 'gpt-4', messages: weatherMessages, tools: weatherTools });
    assert.equal(g4.tokens, 105);
  });

  it('counts block content the same as the equivalent string, and names', () => {
    const asString = countChatTokens('openai', {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hello world' }],
    });
    const asBlocks = countChatTokens('openai', {
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello ' },
            { type: 'text', text: 'world' },
          ],
        },
      ],
    });
    assert.equal(asBlocks.tokens, asString.tokens);
    const named = countChatTokens('openai', {
      model: 'gpt-4o',
      messages: [{ role: 'user', name: 'bob', content: 'Hello world' }],
    });
    assert.equal(named.tokens, asString.tokens + countText('bob', 'gpt-4o').tokens + 1);
  });

  it('counts assistant tool calls and tool results', () => {
    const base = [{ role: 'user', content: 'Weather in Paris?' }];
    const args = '{"location":"Paris, FR"}';
    const withCall = [
      ...base,
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'get_current_weather', arguments: args } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: '18 degrees, sunny' },
    ];
    const a = countChatTokens('openai', { model: 'gpt-4o', messages: base }).tokens;
    const b = countChatTokens('openai', { model: 'gpt-4o', messages: withCall }).tokens;
    const t = (s: string) => countText(s, 'gpt-4o').tokens;
    // assistant: 3 + role + name + args + 3; tool: 3 + role + content
    assert.equal(
      b - a,
      3 + t('assistant') + t('get_current_weather') + t(args) + 3 + 3 + t('tool') + t('18 degrees, sunny'),
    );
  });

  it('uses cl100k for gpt-4 and o200k for gpt-4o (different counts for the same text)', () => {
    const text = 'Sluice est une passerelle: 缓存、队列、预算。';
    assert.equal(countText(text, 'gpt-4').tokens, encodeCl100k(text).length);
    assert.notEqual(countText(text, 'gpt-4').tokens, countText(text, 'gpt-4o').tokens);
  });

  it('never throws on special-token strings in user text (counted as plain text)', () => {
    const c = countText('before <|endoftext|> after', 'gpt-4o');
    assert.ok(c.tokens > 3);
  });

  it('flags estimates for models without a public tokenizer, with the documented formula', () => {
    const body = {
      model: 'claude-sonnet-4-20250514',
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hello there, how are you?' }],
    };
    const c = countChatTokens('anthropic', body);
    assert.equal(c.estimated, true);
    const o200 =
      countText('Be brief.', 'gpt-4o').tokens + countText('Hello there, how are you?', 'gpt-4o').tokens;
    assert.equal(c.tokens, Math.ceil(o200 * 1.2) + 2 * 4);
    const withTools = countChatTokens('anthropic', {
      ...body,
      tools: [{ name: 'x', input_schema: { type: 'object' } }],
    });
    assert.ok(withTools.tokens >= c.tokens + 346, 'Anthropic tool-use system prompt is counted');
  });

  it('flags high-detail images (their size is unknown) and counts low-detail ones exactly', () => {
    const img = (detail: string) => ({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:', detail } },
          ],
        },
      ],
    });
    const text = countChatTokens('openai', {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'What is this?' }],
    }).tokens;
    assert.deepEqual(countChatTokens('openai', img('low')), { tokens: text + 85, estimated: false });
    assert.equal(countChatTokens('openai', img('high')).estimated, true);
  });

  it('counts embedding inputs (strings and token arrays)', () => {
    const one = countRequestTokens('openai', 'embeddings', {
      model: 'text-embedding-3-small',
      input: 'hello world',
    });
    assert.deepEqual(one, { tokens: encodeCl100k('hello world').length, estimated: false });
    const many = countRequestTokens('openai', 'embeddings', {
      model: 'text-embedding-3-small',
      input: ['a b', [1, 2, 3]],
    });
    assert.equal(many.tokens, encodeCl100k('a b').length + 3);
  });

  it('remembers the prompt count on the context until the messages change', () => {
    const ctx = createContext({
      dialect: 'openai',
      route: 'chat',
      headers: {},
      body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'one two three' }] },
      signal: new AbortController().signal,
      timeoutMs: 1000,
    });
    const first = promptTokens(ctx);
    assert.equal(promptTokens(ctx), first, 'same object: counted once');
    ctx.body = { ...ctx.body, messages: [{ role: 'user', content: 'one two three four five six' }] };
    const second = promptTokens(ctx);
    assert.ok(second.tokens > first.tokens);
  });

  it('counts a long repeated history consistently (memoised texts give the same count)', () => {
    const long = 'The quick brown fox jumps over the lazy dog. '.repeat(200);
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: long }] };
    const a = countChatTokens('openai', body).tokens;
    const b = countChatTokens('openai', body).tokens;
    assert.equal(a, b);
    assert.equal(a, encodeChat([{ role: 'user', content: long }], 'gpt-4o').length);
  });
});
