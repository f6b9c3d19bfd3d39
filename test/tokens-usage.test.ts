import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countText } from '../src/tokens/count.js';
import { DIALECTS } from '../src/dialect/index.js';
import { dropEvents, observeEvents } from '../src/pipeline/reply.js';
import { ReplyEvents } from '../src/pipeline/stream-observer.js';
import { StreamUsageMeter } from '../src/tokens/stream-usage.js';
import { createUsageReader } from '../src/tokens/usage-reader.js';
import { normaliseUsage } from '../src/dialect/index.js';

// Wire fixtures in the providers' documented shapes.
const openaiCachedUsage = {
  prompt_tokens: 2006,
  completion_tokens: 300,
  total_tokens: 2306,
  prompt_tokens_details: { cached_tokens: 1920 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
};
const anthropicWriteUsage = {
  input_tokens: 21,
  cache_creation_input_tokens: 188086,
  cache_read_input_tokens: 0,
  output_tokens: 393,
};
const anthropicReadUsage = {
  input_tokens: 21,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 188086,
  output_tokens: 393,
};

const chunk = (content: string | null, finish: string | null = null) =>
  `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":${content === null ? '{}' : JSON.stringify({ content })},"logprobs":null,"finish_reason":${finish ? `"${finish}"` : 'null'}}],"usage":null}\n\n`;
const USAGE_EVENT =
  'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n';
const OPENAI_BODY = chunk('') + chunk('Hello') + chunk(' there, ') + chunk('général!') + chunk(null, 'stop');
const OPENAI_STREAM = OPENAI_BODY + USAGE_EVENT + 'data: [DONE]\n\n';

const ANTHROPIC_STREAM = [
  'event: message_start\ndata: {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-20250514", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 21, "cache_creation_input_tokens": 188086, "cache_read_input_tokens": 0, "output_tokens": 1}}}\n\n',
  'event: content_block_start\ndata: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}\n\n',
  'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}\n\n',
  'event: content_block_stop\ndata: {"type": "content_block_stop", "index": 0}\n\n',
  'event: message_delta\ndata: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 393}}\n\n',
  'event: message_stop\ndata: {"type": "message_stop"}\n\n',
].join('');

/** Split bytes at pseudo-random points (seeded), including inside multi-byte characters. */
function splitBytes(bytes: Uint8Array, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let s = seed;
  let i = 0;
  while (i < bytes.length) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (s % 23);
    out.push(bytes.slice(i, i + n));
    i += n;
  }
  return out;
}

async function* source(parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

/** The client's side of a stream whose usage-only events the upstream stage drops. */
function stripUsageChunks(
  parts: AsyncIterable<Uint8Array>,
  events = new ReplyEvents(),
): AsyncIterable<Uint8Array> {
  const observed = observeEvents({ kind: 'stream', status: 200, headers: {}, chunks: parts }, events);
  return dropEvents(observed, DIALECTS.openai.isUsageOnlyEvent).chunks;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

describe('usage normalisation', () => {
  it('OpenAI: prompt_tokens includes cached_tokens, so uncached input is the difference', () => {
    assert.deepEqual(normaliseUsage('openai', openaiCachedUsage), {
      inputTokens: 86,
      cacheReadTokens: 1920,
      cacheWriteTokens: 0,
      outputTokens: 300,
    });
  });

  it('Anthropic: input_tokens already excludes cache reads and writes', () => {
    assert.deepEqual(normaliseUsage('anthropic', anthropicWriteUsage), {
      inputTokens: 21,
      cacheReadTokens: 0,
      cacheWriteTokens: 188086,
      outputTokens: 393,
    });
    assert.deepEqual(normaliseUsage('anthropic', anthropicReadUsage), {
      inputTokens: 21,
      cacheReadTokens: 188086,
      cacheWriteTokens: 0,
      outputTokens: 393,
    });
  });

  it('Anthropic: keeps the 1-hour share of cache writes (priced higher)', () => {
    const u = normaliseUsage('anthropic', {
      input_tokens: 50,
      cache_creation_input_tokens: 3000,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 },
      output_tokens: 10,
    });
    assert.equal(u?.cacheWriteTokens, 3000);
    assert.equal(u?.cacheWrite1hTokens, 2000);
  });

  it('OpenAI-compatible variants: DeepSeek cache hits, Responses API, reasoning tokens, embeddings', () => {
    assert.deepEqual(
      normaliseUsage('openai', {
        prompt_tokens: 100,
        completion_tokens: 5,
        prompt_cache_hit_tokens: 64,
        prompt_cache_miss_tokens: 36,
      }),
      { inputTokens: 36, cacheReadTokens: 64, cacheWriteTokens: 0, outputTokens: 5 },
    );
    assert.deepEqual(
      normaliseUsage('openai', {
        input_tokens: 500,
        input_tokens_details: { cached_tokens: 128 },
        output_tokens: 40,
      }),
      { inputTokens: 372, cacheReadTokens: 128, cacheWriteTokens: 0, outputTokens: 40 },
    );
    const r = normaliseUsage('openai', {
      prompt_tokens: 10,
      completion_tokens: 200,
      completion_tokens_details: { reasoning_tokens: 150 },
    });
    assert.equal(r?.outputTokens, 200, 'reasoning is part of output');
    assert.equal(r?.reasoningTokens, 150);
    assert.deepEqual(normaliseUsage('openai', { prompt_tokens: 8, total_tokens: 8 }), {
      inputTokens: 8,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 0,
    });
    assert.equal(normaliseUsage('openai', undefined), undefined);
    assert.equal(normaliseUsage('openai', null), undefined);
  });

  it('the usage reader reads JSON replies in both dialects', () => {
    const reader = createUsageReader();
    assert.equal(reader.fromJson('openai', { usage: openaiCachedUsage })?.cacheReadTokens, 1920);
    assert.equal(reader.fromJson('anthropic', { usage: anthropicWriteUsage })?.cacheWriteTokens, 188086);
    assert.equal(reader.fromJson('openai', { choices: [] }), undefined);
  });
});

describe('stream usage', () => {
  it('reads the OpenAI usage chunk, whatever the chunk boundaries', () => {
    const bytes = Buffer.from(OPENAI_STREAM);
    for (const seed of [1, 2, 3, 42, 99]) {
      const meter = new StreamUsageMeter('openai');
      for (const part of splitBytes(bytes, seed)) meter.feed(part);
      assert.deepEqual(meter.usage(), {
        inputTokens: 9,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: 12,
      });
    }
  });

  it('merges Anthropic message_start and message_delta usage (cache writes included)', () => {
    for (const seed of [5, 6, 7]) {
      const meter = new StreamUsageMeter('anthropic');
      for (const part of splitBytes(Buffer.from(ANTHROPIC_STREAM), seed)) meter.feed(part);
      assert.deepEqual(meter.usage(), {
        inputTokens: 21,
        cacheReadTokens: 0,
        cacheWriteTokens: 188086,
        outputTokens: 393,
      });
    }
  });

  it('without provider usage, counts the streamed output locally and flags it', () => {
    const meter = new StreamUsageMeter('openai', 'gpt-4o-mini');
    meter.feed(Buffer.from(`${OPENAI_BODY}data: [DONE]\n\n`));
    const u = meter.usage();
    assert.equal(u?.estimated, true);
    assert.equal(u?.inputTokens, 0, 'input comes from the prompt count, not the stream');
    assert.equal(u?.outputTokens, countText('Hello there, général!', 'gpt-4o-mini').tokens);
  });

  it('asks OpenAI for usage only when the client did not, keeping its other stream options', () => {
    const prepare = createUsageReader().prepareStream;
    assert.ok(prepare);
    const asked = prepare('openai', {
      model: 'm',
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(asked.dropEvent, undefined);
    const notAsked = prepare('openai', {
      model: 'm',
      stream: true,
      stream_options: { include_obfuscation: false },
    });
    assert.deepEqual(notAsked.body.stream_options, { include_obfuscation: false, include_usage: true });
    assert.ok(notAsked.dropEvent);
    assert.equal(prepare('anthropic', { model: 'c', stream: true }).dropEvent, undefined);
  });

  it('strips exactly the usage chunk from the client stream, bytes otherwise untouched', async () => {
    const bytes = Buffer.from(OPENAI_STREAM);
    const expected = OPENAI_BODY + 'data: [DONE]\n\n';
    for (const seed of [1, 11, 123, 4567]) {
      const out = await collect(stripUsageChunks(source(splitBytes(bytes, seed))));
      assert.equal(out, expected);
    }
    // Stream without a usage chunk: unchanged, chunk objects passed through as they are.
    const plain = Buffer.from(OPENAI_BODY);
    assert.equal(await collect(stripUsageChunks(source([plain]))), OPENAI_BODY);
    // CRLF framing.
    const crlf = OPENAI_STREAM.replaceAll('\n\n', '\r\n\r\n');
    assert.equal(
      await collect(stripUsageChunks(source([Buffer.from(crlf)]))),
      expected.replaceAll('\n\n', '\r\n\r\n'),
    );
  });

  it('the meter still sees the usage when the client stream is stripped (observed before dropped)', async () => {
    const reader = createUsageReader();
    const prepared = reader.prepareStream?.('openai', { model: 'gpt-4o-mini', stream: true });
    assert.ok(prepared?.dropEvent);
    const meter = reader.streamMeter('openai');
    const events = new ReplyEvents();
    events.subscribe((event) => meter.onEvent(event));
    const client = await collect(
      stripUsageChunks(source(splitBytes(Buffer.from(OPENAI_STREAM), 77)), events),
    );
    assert.ok(!client.includes('"choices":[]'));
    assert.equal(meter.usage()?.outputTokens, 12);
  });
});
