import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { aggregateAnthropicStream, replayAnthropic } from '../src/dialect/anthropic-stream.js';
import { aggregateOpenAIStream, replayOpenAI } from '../src/dialect/openai-stream.js';
import { replaySse } from '../src/cache/replay.js';
import { StreamCapture } from '../src/cache/stream-capture.js';
import { textPieces } from '../src/dialect/text-pieces.js';
import { type SseEvent, SseParser } from '../src/dialect/sse.js';
import { anthropicSse, OPENAI_USAGE, openAITextSse, openAIToolSse, toChunks } from './cache-fixtures.js';

type Json = Record<string, unknown>;

function events(sse: string): SseEvent[] {
  const parser = new SseParser();
  const out: SseEvent[] = [];
  for (const piece of toChunks(sse, 5)) out.push(...parser.feed(piece));
  return [...out, ...parser.end()];
}

function aggregateOk(result: { ok: true; response: Json } | { ok: false; reason: string }): Json {
  if (!result.ok) assert.fail(`aggregation refused: ${result.reason}`);
  return result.response;
}

const openAIEvents = (completion: Json, includeUsage: boolean) =>
  replayOpenAI(completion, { includeUsage }).map((data) => ({ data }));
const anthropicEvents = (message: Json) => replayAnthropic(message);

describe('OpenAI stream aggregation', () => {
  it('rebuilds a text completion with usage from real chunk bytes', () => {
    const completion = aggregateOk(aggregateOpenAIStream(events(openAITextSse())));
    assert.deepEqual(completion, {
      id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
      object: 'chat.completion',
      created: 1741569952,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'The capital of France is Paris.', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: JSON.parse(OPENAI_USAGE),
      service_tier: 'default',
      system_fingerprint: 'fp_06737a9306',
    });
  });

  it('rebuilds reasoning and a tool call streamed in fragments', () => {
    const completion = aggregateOk(aggregateOpenAIStream(events(openAIToolSse())));
    const [choice] = completion.choices as Json[];
    assert.deepEqual(choice.message, {
      role: 'assistant',
      content: null,
      refusal: null,
      reasoning_content: 'The user wants the weather.',
      tool_calls: [
        {
          id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
        },
      ],
    });
    assert.equal(choice.finish_reason, 'tool_calls');
  });

  it('refuses streams that were cut, errored or carried what it cannot rebuild', () => {
    const full = openAITextSse();
    const cut = full.slice(0, full.indexOf('data: [DONE]'));
    assert.equal(aggregateOpenAIStream(events(cut)).ok, false, 'no [DONE]');
    const unfinished = full.replace('"finish_reason":"stop"', '"finish_reason":null');
    assert.equal(aggregateOpenAIStream(events(unfinished)).ok, false, 'choice never finished');
    const errored = `${cut}data: {"error":{"message":"overloaded","type":"server_error"}}\n\ndata: [DONE]\n\n`;
    assert.equal(aggregateOpenAIStream(events(errored)).ok, false);
    const audio = full.replace('{"content":"Paris."}', '{"audio":{"data":"UklGR"}}');
    assert.deepEqual(aggregateOpenAIStream(events(audio)), {
      ok: false,
      reason: "unsupported delta field 'audio'",
    });
  });
});

describe('OpenAI replay', () => {
  const completion = aggregateOk(aggregateOpenAIStream(events(openAITextSse())));

  it('replays to the same completion, in several natural-sized content chunks', () => {
    const replayed = openAIEvents(completion, true);
    assert.equal(replayed.at(-1)?.data, '[DONE]');
    const contents = replayed
      .slice(0, -1)
      .map((e) => JSON.parse(e.data) as Json)
      .flatMap((c) => (c.choices as Json[]).map((ch) => (ch.delta as Json).content))
      .filter((t): t is string => typeof t === 'string' && t !== '');
    assert.ok(contents.length >= 2, 'the answer is not one giant delta');
    assert.ok(contents.every((t) => t.length <= 24));
    assert.deepEqual(aggregateOk(aggregateOpenAIStream(replayed)), completion);
  });

  it('sends the usage chunk only when asked', () => {
    const withUsage = openAIEvents(completion, true).map((e) => e.data);
    const without = openAIEvents(completion, false).map((e) => e.data);
    assert.ok(withUsage.some((d) => d.includes('"choices":[],"usage":{')));
    assert.ok(!without.some((d) => d.includes('"usage"')));
    const rebuilt = aggregateOk(aggregateOpenAIStream(without.map((data) => ({ data }))));
    assert.equal(rebuilt.usage, undefined);
    assert.deepEqual(rebuilt.choices, completion.choices);
  });

  it('round-trips tool calls, reasoning and several choices', () => {
    const tool = aggregateOk(aggregateOpenAIStream(events(openAIToolSse())));
    assert.deepEqual(aggregateOk(aggregateOpenAIStream(openAIEvents(tool, true))), tool);
    const two = {
      ...completion,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'One.', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
        {
          index: 1,
          message: { role: 'assistant', content: 'Two!', refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
    };
    assert.deepEqual(aggregateOk(aggregateOpenAIStream(openAIEvents(two, true))), two);
  });

  it('streams stored logprobs one token per chunk', () => {
    const tokens = ['Par', 'is', '.'].map((token) => ({
      token,
      logprob: -0.01,
      bytes: [1],
      top_logprobs: [],
    }));
    const withLogprobs = {
      ...completion,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Paris.', refusal: null },
          logprobs: { content: tokens, refusal: null },
          finish_reason: 'stop',
        },
      ],
    };
    const replayed = openAIEvents(withLogprobs, false);
    const contentChunks = replayed.filter((e) => e.data.includes('"logprobs":{"content"'));
    assert.equal(contentChunks.length, 3);
    const { usage, ...withoutUsage } = withLogprobs as Json;
    assert.ok(usage);
    assert.deepEqual(aggregateOk(aggregateOpenAIStream(replayed)), withoutUsage);
  });
});

describe('Anthropic stream aggregation and replay', () => {
  it('rebuilds thinking, text and tool_use (input JSON from fragments), with final usage', () => {
    const message = aggregateOk(aggregateAnthropicStream(events(anthropicSse())));
    assert.deepEqual(message, {
      id: 'msg_014p7gG3wDgGV9EUtLvnow3U',
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [
        {
          type: 'thinking',
          thinking: 'Weather needs a tool.',
          signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds',
        },
        { type: 'text', text: 'Let me check the weather in Paris.' },
        {
          type: 'tool_use',
          id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
          name: 'get_weather',
          input: { location: 'Paris', unit: 'celsius' },
        },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 472,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 89,
      },
    });
  });

  it('replays to the same message', () => {
    const message = aggregateOk(aggregateAnthropicStream(events(anthropicSse())));
    const replayed = anthropicEvents(message);
    assert.equal(replayed[0].event, 'message_start');
    assert.equal(replayed.at(-1)?.event, 'message_stop');
    assert.deepEqual(aggregateOk(aggregateAnthropicStream(replayed)), message);
  });

  it('refuses a stream without message_stop or with an error event', () => {
    const full = anthropicSse();
    const cut = full.slice(0, full.indexOf('event: message_stop'));
    assert.deepEqual(aggregateAnthropicStream(events(cut)), { ok: false, reason: 'no message_stop' });
    const errored = `${cut}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`;
    assert.equal(aggregateAnthropicStream(events(errored)).ok, false);
  });
});

describe('StreamCapture', () => {
  it('rebuilds from raw chunks and gives up past its byte limit', () => {
    const capture = new StreamCapture('openai', 1 << 20);
    for (const piece of toChunks(openAITextSse(), 3)) capture.feed(piece);
    assert.equal(capture.finish().ok, true);
    const small = new StreamCapture('anthropic', 100);
    for (const piece of toChunks(anthropicSse())) small.feed(piece);
    assert.deepEqual(small.finish(), { ok: false, reason: 'stream larger than the cache limit' });
  });
});

describe('text pieces', () => {
  it('joins back to the text, a few words or at most 24 characters each', () => {
    const samples = [
      '',
      'one',
      'Hello there, how are you today?\n\nFine.  ',
      '巴黎是法国的首都。'.repeat(5),
      `x${'😀'.repeat(30)}`,
    ];
    for (const text of samples) {
      const pieces = textPieces(text);
      assert.equal(pieces.join(''), text);
      assert.ok(pieces.every((p) => Array.from(p).length <= 27));
    }
  });
});

describe('replayed SSE through the official SDKs', () => {
  let server: ReturnType<typeof createServer>;
  let baseURL = '';
  let body: Uint8Array[] = [];
  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const piece of body) res.write(piece);
        res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('openai: the SDK stream helper rebuilds the stored completion', async () => {
    const stored = aggregateOk(aggregateOpenAIStream(events(openAIToolSse())));
    body = replaySse('openai', stored, true);
    const client = new OpenAI({ apiKey: 'test', baseURL: `${baseURL}/v1`, maxRetries: 0 });
    const stream = client.chat.completions.stream({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather?' }],
      stream_options: { include_usage: true },
    });
    const final = await stream.finalChatCompletion();
    const [choice] = stored.choices as Json[];
    const message = choice.message as Json;
    assert.deepEqual(final.choices[0].message.tool_calls, message.tool_calls);
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(final.usage, stored.usage);
  });

  it('anthropic: the SDK MessageStream rebuilds the stored message', async () => {
    const stored = aggregateOk(aggregateAnthropicStream(events(anthropicSse())));
    body = replaySse('anthropic', stored, false);
    const client = new Anthropic({ apiKey: 'test', baseURL, maxRetries: 0 });
    const final = await client.messages
      .stream({
        model: 'claude-sonnet-4-6',
        max_tokens: 100,
        messages: [{ role: 'user', content: 'weather?' }],
      })
      .finalMessage();
    assert.deepEqual(final.content, stored.content);
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(final.usage.output_tokens, 89);
    assert.equal(final.usage.input_tokens, 472);
  });
});
