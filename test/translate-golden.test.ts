import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  ChatToMessagesStream,
  chatResponseToMessages,
  chatToMessagesRequest,
  MessagesToChatStream,
  messagesResponseToChat,
  messagesToChatRequest,
  translateErrorBody,
} from '../src/dialect/translate/index.js';
import { ANTHROPIC_MESSAGES_TO_CHAT, OPENAI_CHAT_TO_MESSAGES } from '../src/dialect/translate/fields.js';
import { isSluiceError, SluiceError } from '../src/errors.js';
import { SseParser } from '../src/dialect/sse.js';

type Json = Record<string, unknown>;
const toMessages = (body: Json) =>
  chatToMessagesRequest({ model: 'claude-x', ...body }, { defaultMaxTokens: 1000 });
const toChat = (body: Json) => messagesToChatRequest({ model: 'gpt-x', max_tokens: 100, ...body });
const user = (content: unknown) => ({ role: 'user', content });

/** The translation refuses with a 400 naming `param`. */
function refuses(run: () => unknown, param: string): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(isSluiceError(e), `a SluiceError, got ${String(e)}`);
    assert.equal(e.code, 'invalid_request');
    assert.equal(e.status, 400);
    assert.equal(e.extra.param, param);
    assert.ok(e.message.startsWith(`${param}: `), e.message);
    return true;
  });
}

describe('golden: OpenAI chat request → Anthropic Messages request', () => {
  it('system and developer messages join the one system prompt, in order', () => {
    assert.equal(toMessages({ messages: [{ role: 'system', content: 'S' }, user('hi')] }).system, 'S');
    const out = toMessages({
      messages: [
        { role: 'system', content: 'A' },
        user('hi'),
        { role: 'developer', content: [{ type: 'text', text: 'B' }] },
      ],
    });
    assert.deepEqual(out.system, [
      { type: 'text', text: 'A' },
      { type: 'text', text: 'B' },
    ]);
    assert.deepEqual(out.messages, [user('hi')]);
  });

  it('multi-part content, images (data URL → base64, URL → url) and PDF files', () => {
    const out = toMessages({
      messages: [
        user([
          { type: 'text', text: 'look' },
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,AAAA', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://x.test/a.png' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'a.pdf' } },
        ]),
      ],
    });
    assert.deepEqual((out.messages as Json[])[0].content, [
      { type: 'text', text: 'look' },
      { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } },
      { type: 'image', source: { type: 'url', url: 'https://x.test/a.png' } },
      {
        type: 'document',
        source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' },
        title: 'a.pdf',
      },
    ]);
    refuses(
      () =>
        toMessages({
          messages: [user([{ type: 'image_url', image_url: { url: 'data:image/tiff;base64,AA' } }])],
        }),
      'messages[0].content[0].image_url.url',
    );
    refuses(
      () => toMessages({ messages: [user([{ type: 'input_audio', input_audio: {} }])] }),
      'messages[0].content[0].type',
    );
    refuses(
      () => toMessages({ messages: [user([{ type: 'file', file: { file_id: 'file-1' } }])] }),
      'messages[0].content[0].file.file_id',
    );
  });

  it('tools and tool_choice (auto, none, required, named; parallel_tool_calls false)', () => {
    const tools = [
      {
        type: 'function',
        function: { name: 'f', description: 'd', parameters: { type: 'object' }, strict: true },
      },
    ];
    const base = { messages: [user('x')], tools };
    assert.deepEqual(toMessages(base).tools, [
      { name: 'f', input_schema: { type: 'object' }, description: 'd', strict: true },
    ]);
    assert.equal(toMessages(base).tool_choice, undefined);
    assert.deepEqual(toMessages({ ...base, tool_choice: 'none' }).tool_choice, { type: 'none' });
    assert.deepEqual(toMessages({ ...base, tool_choice: 'required' }).tool_choice, { type: 'any' });
    assert.deepEqual(
      toMessages({ ...base, tool_choice: { type: 'function', function: { name: 'f' } } }).tool_choice,
      {
        type: 'tool',
        name: 'f',
      },
    );
    assert.deepEqual(toMessages({ ...base, parallel_tool_calls: false }).tool_choice, {
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    assert.deepEqual(
      toMessages({ messages: [user('x')], tools: [{ type: 'function', function: { name: 'g' } }] }).tools,
      [{ name: 'g', input_schema: { type: 'object', properties: {} } }],
    );
    refuses(
      () => toMessages({ ...base, tools: [{ type: 'custom', custom: { name: 'c' } }] }),
      'tools[0].type',
    );
    refuses(
      () => toMessages({ ...base, tool_choice: { type: 'allowed_tools', allowed_tools: {} } }),
      'tool_choice',
    );
    refuses(() => toMessages({ messages: [user('x')], tool_choice: 'required' }), 'tool_choice');
  });

  it('assistant tool calls and several tool results in one user turn, then the next user text', () => {
    const out = toMessages({
      messages: [
        user('q'),
        {
          role: 'assistant',
          content: 'checking',
          tool_calls: [
            { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
            { id: 'c2', type: 'function', function: { name: 'f', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'r1' },
        { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'r2' }] },
        user('and now?'),
      ],
    });
    assert.deepEqual(out.messages, [
      user('q'),
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'checking' },
          { type: 'tool_use', id: 'c1', name: 'f', input: { a: 1 } },
          { type: 'tool_use', id: 'c2', name: 'f', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'c1', content: 'r1' },
          { type: 'tool_result', tool_use_id: 'c2', content: [{ type: 'text', text: 'r2' }] },
          { type: 'text', text: 'and now?' },
        ],
      },
    ]);
    refuses(
      () =>
        toMessages({
          messages: [
            user('q'),
            {
              role: 'assistant',
              tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }],
            },
          ],
        }),
      'messages[1].tool_calls[0].function.arguments',
    );
    refuses(
      () => toMessages({ messages: [{ role: 'user', content: 'hi', name: 'bob' }] }),
      'messages[0].name',
    );
    refuses(
      () => toMessages({ messages: [{ role: 'function', name: 'f', content: 'x' }] }),
      'messages[0].name',
    );
  });

  it('stop → stop_sequences; max_completion_tokens over max_tokens; the configured default', () => {
    assert.deepEqual(toMessages({ messages: [user('x')], stop: 'END' }).stop_sequences, ['END']);
    assert.deepEqual(toMessages({ messages: [user('x')], stop: ['a', 'b'] }).stop_sequences, ['a', 'b']);
    assert.equal(toMessages({ messages: [user('x')], stop: null }).stop_sequences, undefined);
    assert.equal(toMessages({ messages: [user('x')] }).max_tokens, 1000);
    assert.equal(toMessages({ messages: [user('x')], max_tokens: 7 }).max_tokens, 7);
    assert.equal(
      toMessages({ messages: [user('x')], max_tokens: 7, max_completion_tokens: 9 }).max_tokens,
      9,
    );
  });

  it('temperature (0–1 only) and top_p', () => {
    const out = toMessages({ messages: [user('x')], temperature: 0.7, top_p: 0.9 });
    assert.equal(out.temperature, 0.7);
    assert.equal(out.top_p, 0.9);
    refuses(() => toMessages({ messages: [user('x')], temperature: 1.5 }), 'temperature');
  });

  it('user (else safety_identifier) → metadata.user_id; stream passes, include_usage stays with the gateway', () => {
    assert.deepEqual(toMessages({ messages: [user('x')], user: 'u' }).metadata, { user_id: 'u' });
    assert.deepEqual(toMessages({ messages: [user('x')], safety_identifier: 's' }).metadata, {
      user_id: 's',
    });
    const out = toMessages({ messages: [user('x')], stream: true, stream_options: { include_usage: true } });
    assert.equal(out.stream, true);
    assert.equal(out.stream_options, undefined);
  });

  it('reasoning_effort → thinking budget (none → disabled; budget kept below max_tokens)', () => {
    assert.deepEqual(toMessages({ messages: [user('x')], reasoning_effort: 'none' }).thinking, {
      type: 'disabled',
    });
    const medium = toMessages({ messages: [user('x')], reasoning_effort: 'medium' });
    assert.deepEqual(medium.thinking, { type: 'enabled', budget_tokens: 8192 });
    assert.equal(medium.max_tokens, 1000 + 8192);
    const clamped = toMessages({
      messages: [user('x')],
      reasoning_effort: 'high',
      max_completion_tokens: 5000,
    });
    assert.deepEqual(clamped.thinking, { type: 'enabled', budget_tokens: 4999 });
    assert.equal(clamped.max_tokens, 5000);
    refuses(
      () => toMessages({ messages: [user('x')], reasoning_effort: 'low', max_tokens: 500 }),
      'reasoning_effort',
    );
  });

  it('response_format: json_schema → output_config.format; json_object refused', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } } };
    const out = toMessages({
      messages: [user('x')],
      response_format: { type: 'json_schema', json_schema: { name: 'n', schema } },
    });
    assert.deepEqual(out.output_config, { format: { type: 'json_schema', schema } });
    assert.equal(
      toMessages({ messages: [user('x')], response_format: { type: 'text' } }).output_config,
      undefined,
    );
    refuses(
      () => toMessages({ messages: [user('x')], response_format: { type: 'json_object' } }),
      'response_format',
    );
  });

  it('every refused field is a 400 naming it; no-op values and ignored fields pass', () => {
    const refused: Array<[string, unknown]> = [
      ['n', 2],
      ['logprobs', true],
      ['top_logprobs', 2],
      ['presence_penalty', 0.5],
      ['frequency_penalty', -1],
      ['logit_bias', { '50256': -100 }],
      ['seed', 7],
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['modalities', ['text', 'audio']],
      ['prediction', { type: 'content', content: 'x' }],
      ['store', true],
      ['verbosity', 'low'],
      ['web_search_options', {}],
      ['service_tier', 'flex'],
      ['functions', [{ name: 'f' }]],
      ['function_call', 'auto'],
      ['moderation', {}],
      ['some_vendor_extension', 1],
    ];
    for (const [field, value] of refused)
      refuses(() => toMessages({ messages: [user('x')], [field]: value }), field);
    const passes = toMessages({
      messages: [user('x')],
      n: 1,
      logprobs: false,
      top_logprobs: 0,
      presence_penalty: 0,
      frequency_penalty: 0,
      logit_bias: {},
      store: false,
      modalities: ['text'],
      service_tier: 'auto',
      seed: null,
      metadata: { tag: 'a' },
      prompt_cache_key: 'k',
    });
    assert.deepEqual(Object.keys(passes).sort(), ['max_tokens', 'messages', 'model']);
  });
});

describe('golden: Anthropic Messages request → OpenAI chat request', () => {
  it('system (string or text blocks, cache_control left out) → a system message', () => {
    assert.deepEqual(toChat({ system: 'S', messages: [user('hi')] }).messages, [
      { role: 'system', content: 'S' },
      user('hi'),
    ]);
    const blocks = toChat({
      system: [
        { type: 'text', text: 'A', cache_control: { type: 'ephemeral' } },
        { type: 'text', text: 'B' },
      ],
      messages: [user('hi')],
    });
    assert.deepEqual((blocks.messages as Json[])[0], {
      role: 'system',
      content: [
        { type: 'text', text: 'A' },
        { type: 'text', text: 'B' },
      ],
    });
  });

  it('content blocks: text, images (base64 → data URL, url → URL), PDF and text documents', () => {
    const out = toChat({
      messages: [
        user([
          { type: 'text', text: 't' },
          { type: 'image', source: { type: 'base64', media_type: 'image/gif', data: 'R0lG' } },
          { type: 'image', source: { type: 'url', url: 'https://x.test/i.webp' } },
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' },
            title: 'p.pdf',
          },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain' } },
        ]),
      ],
    });
    assert.deepEqual((out.messages as Json[])[0].content, [
      { type: 'text', text: 't' },
      { type: 'image_url', image_url: { url: 'data:image/gif;base64,R0lG' } },
      { type: 'image_url', image_url: { url: 'https://x.test/i.webp' } },
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE', filename: 'p.pdf' } },
      { type: 'text', text: 'plain' },
    ]);
    refuses(
      () => toChat({ messages: [user([{ type: 'image', source: { type: 'file', file_id: 'f' } }])] }),
      'messages[0].content[0].source',
    );
    refuses(
      () => toChat({ messages: [user([{ type: 'search_result', source: 's' }])] }),
      'messages[0].content[0].type',
    );
  });

  it('assistant tool_use → tool_calls (thinking left out); tool_result blocks → tool messages first', () => {
    const out = toChat({
      messages: [
        user('q'),
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'text', text: 'let me see' },
            { type: 'tool_use', id: 't1', name: 'f', input: { a: 1 } },
            { type: 'tool_use', id: 't2', name: 'f', input: {} },
          ],
        },
        user([
          { type: 'tool_result', tool_use_id: 't1', content: 'r1' },
          { type: 'tool_result', tool_use_id: 't2', content: 'boom', is_error: true },
          { type: 'text', text: 'next?' },
        ]),
      ],
    });
    assert.deepEqual((out.messages as Json[]).slice(1), [
      {
        role: 'assistant',
        content: 'let me see',
        tool_calls: [
          { id: 't1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
          { id: 't2', type: 'function', function: { name: 'f', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 't1', content: 'r1' },
      { role: 'tool', tool_call_id: 't2', content: '[tool error] boom' },
      user('next?'),
    ]);
  });

  it('tools and tool_choice (auto, any, tool, none; disable_parallel_tool_use)', () => {
    const tools = [
      { name: 'f', description: 'd', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } },
    ];
    const base = { messages: [user('x')], tools };
    assert.deepEqual(toChat(base).tools, [
      { type: 'function', function: { name: 'f', parameters: { type: 'object' }, description: 'd' } },
    ]);
    assert.equal(toChat({ ...base, tool_choice: { type: 'auto' } }).tool_choice, 'auto');
    assert.equal(toChat({ ...base, tool_choice: { type: 'any' } }).tool_choice, 'required');
    assert.equal(toChat({ ...base, tool_choice: { type: 'none' } }).tool_choice, 'none');
    const named = toChat({
      ...base,
      tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
    });
    assert.deepEqual(named.tool_choice, { type: 'function', function: { name: 'f' } });
    assert.equal(named.parallel_tool_calls, false);
    refuses(
      () => toChat({ ...base, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }),
      'tools[0].type',
    );
    refuses(
      () => toChat({ ...base, tools: [{ ...tools[0], defer_loading: true }] }),
      'tools[0].defer_loading',
    );
    refuses(() => toChat({ messages: [user('x')], tool_choice: { type: 'any' } }), 'tool_choice');
  });

  it('stop_sequences, max_tokens, temperature, top_p, metadata.user_id, service_tier, stream', () => {
    const out = toChat({
      messages: [user('x')],
      stop_sequences: ['S'],
      temperature: 0.3,
      top_p: 0.8,
      metadata: { user_id: 'u' },
      service_tier: 'standard_only',
      stream: true,
    });
    assert.deepEqual(out, {
      model: 'gpt-x',
      messages: [user('x')],
      max_completion_tokens: 100,
      stop: ['S'],
      temperature: 0.3,
      top_p: 0.8,
      user: 'u',
      service_tier: 'default',
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('thinking budget → reasoning_effort; output_config effort and json_schema format', () => {
    const effort = (thinking: Json) => toChat({ messages: [user('x')], thinking }).reasoning_effort;
    assert.equal(effort({ type: 'enabled', budget_tokens: 1024 }), 'low');
    assert.equal(effort({ type: 'enabled', budget_tokens: 8192 }), 'medium');
    assert.equal(effort({ type: 'enabled', budget_tokens: 20000 }), 'high');
    assert.equal(effort({ type: 'adaptive' }), undefined);
    assert.equal(effort({ type: 'disabled' }), undefined);
    const schema = { type: 'object' };
    const out = toChat({
      messages: [user('x')],
      output_config: { effort: 'max', format: { type: 'json_schema', schema } },
    });
    assert.equal(out.reasoning_effort, 'max');
    assert.deepEqual(out.response_format, {
      type: 'json_schema',
      json_schema: { name: 'response', schema, strict: true },
    });
  });

  it('every refused field is a 400 naming it; no-op values and ignored fields pass', () => {
    const refused: Array<[string, unknown]> = [
      ['top_k', 5],
      ['container', 'c'],
      ['context_management', {}],
      ['mcp_servers', []],
      ['inference_geo', 'us'],
      ['speed', 'fast'],
      ['some_vendor_extension', 1],
    ];
    for (const [field, value] of refused)
      refuses(() => toChat({ messages: [user('x')], [field]: value }), field);
    const passes = toChat({
      messages: [user('x')],
      speed: 'standard',
      cache_control: { type: 'ephemeral' },
      service_tier: 'auto',
    });
    assert.deepEqual(Object.keys(passes).sort(), ['max_completion_tokens', 'messages', 'model']);
  });
});

describe('golden: replies', () => {
  it('Anthropic message → chat completion: text, thinking, tool calls, stop reason, usage with cache tokens', () => {
    const out = messagesResponseToChat(
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-x',
        content: [
          { type: 'thinking', thinking: 'ponder', signature: 's' },
          { type: 'text', text: 'Hello' },
          { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: {
          input_tokens: 10,
          cache_read_input_tokens: 100,
          cache_creation_input_tokens: 5,
          output_tokens: 7,
        },
      },
      'claude-x',
    );
    assert.equal(out.object, 'chat.completion');
    assert.equal(out.id, 'msg_1');
    assert.deepEqual((out.choices as Json[])[0], {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Hello',
        refusal: null,
        reasoning_content: 'ponder',
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    });
    assert.deepEqual(out.usage, {
      prompt_tokens: 115,
      completion_tokens: 7,
      total_tokens: 122,
      prompt_tokens_details: { cached_tokens: 100 },
      cache_creation_input_tokens: 5,
    });
  });

  it('stop reasons → finish reasons', () => {
    const finish = (stop_reason: string) =>
      ((messagesResponseToChat({ content: [], stop_reason }, 'm').choices as Json[])[0] as Json)
        .finish_reason;
    assert.equal(finish('end_turn'), 'stop');
    assert.equal(finish('stop_sequence'), 'stop');
    assert.equal(finish('max_tokens'), 'length');
    assert.equal(finish('tool_use'), 'tool_calls');
    assert.equal(finish('refusal'), 'content_filter');
    assert.equal(finish('model_context_window_exceeded'), 'length');
  });

  it('chat completion → Anthropic message: text, reasoning, tool calls, finish reason, usage with cached tokens', () => {
    const out = chatResponseToMessages({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      model: 'gpt-x',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Hi',
            reasoning_content: 'think',
            tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"b":2}' } }],
          },
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 120,
        completion_tokens: 9,
        total_tokens: 129,
        prompt_tokens_details: { cached_tokens: 100 },
      },
    });
    assert.deepEqual(out, {
      id: 'chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'gpt-x',
      content: [
        { type: 'thinking', thinking: 'think', signature: '' },
        { type: 'text', text: 'Hi' },
        { type: 'tool_use', id: 'call_1', name: 'f', input: { b: 2 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 20,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 100,
        output_tokens: 9,
      },
    });
    const stop = (finish_reason: string) =>
      chatResponseToMessages({ choices: [{ message: {}, finish_reason }] }).stop_reason;
    assert.equal(stop('stop'), 'end_turn');
    assert.equal(stop('length'), 'max_tokens');
    assert.equal(stop('content_filter'), 'refusal');
    assert.throws(
      () =>
        chatResponseToMessages({
          choices: [{ message: { tool_calls: [{ function: { name: 'f', arguments: '{' } }] } }],
        }),
      (e: unknown) => isSluiceError(e) && e.code === 'upstream_error',
    );
  });
});

describe('golden: errors', () => {
  it("an Anthropic error → OpenAI's shape (type by kind, Anthropic type as code)", () => {
    const body = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    assert.deepEqual(translateErrorBody('anthropic', 'openai', 529, body), {
      error: { message: 'Overloaded', type: 'service_unavailable', param: null, code: 'overloaded_error' },
    });
  });

  it("an OpenAI error → Anthropic's shape (type by status)", () => {
    const body = {
      error: {
        message: 'Rate limit reached',
        type: 'rate_limit_error',
        param: null,
        code: 'rate_limit_exceeded',
      },
    };
    assert.deepEqual(translateErrorBody('openai', 'anthropic', 429, body), {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Rate limit reached' },
    });
    assert.deepEqual(translateErrorBody('openai', 'anthropic', 502, 'Bad Gateway'), {
      type: 'error',
      error: { type: 'api_error', message: 'Bad Gateway' },
    });
  });
});

/** Feed SSE text through a transducer and parse what comes out. */
function run(
  transducer: { push(e: { event?: string; data: string }): string; end(): string },
  sse: string,
): Array<{ event?: string; data: string }> {
  const input = new SseParser();
  let out = '';
  for (const e of input.feed(Buffer.from(sse))) out += transducer.push(e);
  out += transducer.end();
  return new SseParser().feed(Buffer.from(out));
}

const anthropicSse = (events: Json[]) =>
  events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('');
const openaiSse = (chunks: Json[]) =>
  `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join('')}data: [DONE]\n\n`;

const ANTHROPIC_STREAM = anthropicSse([
  {
    type: 'message_start',
    message: {
      id: 'msg_9',
      model: 'claude-x',
      content: [],
      usage: { input_tokens: 3, cache_read_input_tokens: 50, output_tokens: 1 },
    },
  },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'ping' },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } },
  { type: 'content_block_stop', index: 0 },
  {
    type: 'content_block_start',
    index: 1,
    content_block: { type: 'tool_use', id: 'toolu_9', name: 'f', input: {} },
  },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } },
  { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '1}' } },
  { type: 'content_block_stop', index: 1 },
  {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 12 },
  },
  { type: 'message_stop' },
]);

describe('golden: streams', () => {
  it('Anthropic events → chat.completion.chunk deltas, usage chunk when asked, [DONE]', () => {
    const out = run(
      new MessagesToChatStream({ includeUsage: true, requestedModel: 'claude-x' }),
      ANTHROPIC_STREAM,
    );
    assert.equal(out.at(-1)?.data, '[DONE]');
    const chunks = out.slice(0, -1).map((e) => JSON.parse(e.data) as Json);
    for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
    const deltas = chunks
      .filter((c) => (c.choices as Json[]).length > 0)
      .map((c) => (c.choices as Json[])[0]);
    assert.deepEqual(
      deltas.map((d) => [d.delta, d.finish_reason]),
      [
        [{ role: 'assistant', content: '' }, null],
        [{ content: 'Hel' }, null],
        [{ content: 'lo' }, null],
        [
          {
            tool_calls: [
              { index: 0, id: 'toolu_9', type: 'function', function: { name: 'f', arguments: '' } },
            ],
          },
          null,
        ],
        [{ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }, null],
        [{ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }, null],
        [{}, 'tool_calls'],
      ],
    );
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 53,
      completion_tokens: 12,
      total_tokens: 65,
      prompt_tokens_details: { cached_tokens: 50 },
    });
    const quiet = run(
      new MessagesToChatStream({ includeUsage: false, requestedModel: 'm' }),
      ANTHROPIC_STREAM,
    );
    assert.ok(quiet.every((e) => e.data === '[DONE]' || !('usage' in JSON.parse(e.data))));
  });

  it('OpenAI chunks → Anthropic events: a block per content kind and per tool call, usage in message_delta', () => {
    const head = { id: 'chatcmpl-9', object: 'chat.completion.chunk', model: 'gpt-x' };
    const delta = (d: Json, finish: string | null = null) => ({
      ...head,
      choices: [{ index: 0, delta: d, finish_reason: finish }],
    });
    const sse = openaiSse([
      delta({ role: 'assistant', content: '' }),
      delta({ reasoning_content: 'mull' }),
      delta({ content: 'Hi' }),
      delta({
        tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'f', arguments: '' } }],
      }),
      delta({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }),
      delta({
        tool_calls: [
          { index: 1, id: 'call_b', type: 'function', function: { name: 'g', arguments: '{"x":2}' } },
        ],
      }),
      delta({}, 'tool_calls'),
      {
        ...head,
        choices: [],
        usage: { prompt_tokens: 40, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 30 } },
      },
    ]);
    const events = run(new ChatToMessagesStream({ requestedModel: 'gpt-x' }), sse);
    const summary = events.map((e) => {
      const d = JSON.parse(e.data) as Json;
      assert.equal(d.type, e.event);
      if (e.event === 'content_block_start') return `start ${d.index} ${(d.content_block as Json).type}`;
      if (e.event === 'content_block_delta') return `delta ${d.index} ${JSON.stringify(d.delta)}`;
      if (e.event === 'content_block_stop') return `stop ${d.index}`;
      return e.event;
    });
    assert.deepEqual(summary, [
      'message_start',
      'start 0 thinking',
      'delta 0 {"type":"thinking_delta","thinking":"mull"}',
      'stop 0',
      'start 1 text',
      'delta 1 {"type":"text_delta","text":"Hi"}',
      'stop 1',
      'start 2 tool_use',
      'delta 2 {"type":"input_json_delta","partial_json":"{}"}',
      'stop 2',
      'start 3 tool_use',
      'delta 3 {"type":"input_json_delta","partial_json":"{\\"x\\":2}"}',
      'stop 3',
      'message_delta',
      'message_stop',
    ]);
    const messageDelta = JSON.parse(events.at(-2)?.data ?? '{}') as Json;
    assert.deepEqual(messageDelta.delta, { stop_reason: 'tool_use', stop_sequence: null });
    assert.deepEqual(messageDelta.usage, {
      input_tokens: 10,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 30,
      output_tokens: 6,
    });
  });

  it("an upstream error event becomes the client's error event", () => {
    const toChatOut = run(
      new MessagesToChatStream({ includeUsage: false, requestedModel: 'm' }),
      anthropicSse([{ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }]),
    );
    assert.deepEqual(JSON.parse(toChatOut[0].data), {
      error: { message: 'Overloaded', type: 'service_unavailable', param: null, code: 'overloaded_error' },
    });
    const toMessagesOut = run(
      new ChatToMessagesStream({ requestedModel: 'm' }),
      'data: {"error":{"message":"Server error","type":"server_error"}}\n\n',
    );
    assert.equal(toMessagesOut[0].event, 'error');
    assert.deepEqual(JSON.parse(toMessagesOut[0].data), {
      type: 'error',
      error: { type: 'api_error', message: 'Server error' },
    });
  });

  it('a stream that stops early: end() throws, fail() renders the error in the client dialect', () => {
    const cut = ANTHROPIC_STREAM.slice(0, ANTHROPIC_STREAM.indexOf('event: content_block_stop'));
    const toChat = new MessagesToChatStream({ includeUsage: false, requestedModel: 'm' });
    for (const e of new SseParser().feed(Buffer.from(cut))) toChat.push(e);
    assert.throws(
      () => toChat.end(),
      (e: unknown) => isSluiceError(e) && e.code === 'upstream_error',
    );
    const failure = new SluiceError('upstream_unreachable', 'upstream is unreachable');
    assert.match(toChat.fail(failure), /^data: \{"error":\{"message":"upstream is unreachable"/);

    const toMessages = new ChatToMessagesStream({ requestedModel: 'm' });
    toMessages.push({
      data: JSON.stringify({ id: 'c', choices: [{ index: 0, delta: { content: 'partial' } }] }),
    });
    assert.throws(
      () => toMessages.end(),
      (e: unknown) => isSluiceError(e) && e.code === 'upstream_error',
    );
    assert.match(
      toMessages.fail(failure),
      /^event: error\ndata: \{"type":"error","error":\{"type":"api_error"/,
    );
  });
});

describe('docs/translation.md', () => {
  it('names every request field both tables decide', () => {
    const doc = readFileSync(new URL('../docs/translation.md', import.meta.url), 'utf8');
    for (const field of [
      ...Object.keys(OPENAI_CHAT_TO_MESSAGES),
      ...Object.keys(ANTHROPIC_MESSAGES_TO_CHAT),
    ]) {
      assert.ok(doc.includes(`\`${field}\``), `docs/translation.md mentions \`${field}\``);
    }
  });
});
