/**
 * The Anthropic → chat stream translation takes a text delta's JSON string literal as it
 * came (no parse and stringify per token). These tests hold it to what the general path
 * produces: the same chunk once parsed, whatever the text holds; and events it cannot
 * vouch for (other spacing, invalid JSON, another event name) go the general way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LazyEvent, SseParser } from '../src/dialect/sse.js';
import { MessagesToChatStream } from '../src/dialect/translate/index.js';

type Json = Record<string, unknown>;

const START =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}\n\n' +
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n';
const END =
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

/** The client's SSE text for an Anthropic stream whose middle is `deltas` (raw SSE). */
function translate(deltas: string): string {
  const transducer = new MessagesToChatStream({ includeUsage: false, requestedModel: 'claude-x' });
  let out = '';
  for (const event of new SseParser().feed(Buffer.from(START + deltas + END))) out += transducer.push(event);
  return out + transducer.end();
}

function chunks(sse: string): Json[] {
  return new SseParser()
    .feed(Buffer.from(sse))
    .filter((e) => e.data !== '[DONE]')
    .map((e) => JSON.parse(e.data) as Json);
}

const contents = (sse: string) =>
  chunks(sse).map((c) => ((c.choices as Json[])[0].delta as Json).content ?? null);

/** As the API (and the simulated upstream) sends it. */
const compact = (literal: string, event = 'content_block_delta') =>
  `event: ${event}\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${literal}}}\n\n`;
/** The same event, spaced: valid JSON the fast path does not recognise. */
const spaced = (literal: string) =>
  `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ${literal}}}\n\n`;

const TEXTS = [
  'plain',
  '',
  'quote " and backslash \\ and slash /',
  'line\nbreak\ttab\r\u0001',
  'é ü 日本語 😀',
  '\u2028\u2029',
  '{"type":"content_block_delta"}',
];

describe('Anthropic text deltas → chat chunks without a parse per token', () => {
  it('gives the chunks the general path gives, for any text', () => {
    for (const text of TEXTS) {
      const literal = JSON.stringify(text);
      const fast = translate(compact(literal));
      const general = translate(spaced(literal));
      assert.deepEqual(chunks(fast), chunks(general), JSON.stringify(text));
      // The stringified literal is what JSON.stringify of the chunk would write: same bytes.
      assert.equal(fast, general, JSON.stringify(text));
      assert.deepEqual(contents(fast), ['', text, null]);
    }
  });

  it('does not parse a compact text delta', () => {
    const parsesOf = (sse: string) => {
      const before = LazyEvent.parses;
      translate(sse);
      return LazyEvent.parses - before;
    };
    const deltas = (make: (literal: string) => string) =>
      ['"a"', '"b"', '"c"'].map((literal) => make(literal)).join('');
    assert.equal(parsesOf(deltas(spaced)) - parsesOf(deltas(compact)), 3);
  });

  it('keeps escapes JSON allows that JSON.stringify would not write, meaning the same text', () => {
    for (const [literal, text] of [
      ['"caf\\u00e9"', 'café'],
      ['"a\\/b"', 'a/b'],
      ['"\\ud83d\\ude00"', '😀'],
      ['"\\b\\f"', '\b\f'],
    ]) {
      const fast = translate(compact(literal));
      assert.deepEqual(contents(fast), ['', text, null], literal);
      assert.deepEqual(chunks(fast), chunks(translate(spaced(literal))), literal);
    }
  });

  it('several deltas keep their order and the chunk head (id, model, created)', () => {
    const out = chunks(translate(compact('"Hel"') + compact('"lo"')));
    assert.deepEqual(
      out.map((c) => (c.choices as Json[])[0]),
      [
        { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
        { index: 0, delta: { content: 'Hel' }, logprobs: null, finish_reason: null },
        { index: 0, delta: { content: 'lo' }, logprobs: null, finish_reason: null },
        { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' },
      ],
    );
    for (const c of out) {
      assert.equal(c.id, 'msg_1');
      assert.equal(c.model, 'claude-x');
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.created, out[0].created);
    }
  });

  it('an event that is not valid JSON is dropped, as before', () => {
    // A raw control character in a string, a leading zero, an unknown escape: JSON.parse refuses all three.
    for (const bad of [
      compact('"raw\u0001control"'),
      'event: content_block_delta\ndata: {"type":"content_block_delta","index":00,"delta":{"type":"text_delta","text":"x"}}\n\n',
      compact('"bad \\x escape"'),
    ]) {
      assert.deepEqual(contents(translate(bad)), ['', null], JSON.stringify(bad));
    }
  });

  it('the event name decides: a text delta under another name is not content', () => {
    assert.deepEqual(contents(translate(compact('"x"', 'ping'))), ['', null]);
    // Without an event name the data's type decides, as in the general path.
    const unnamed = compact('"x"').replace('event: content_block_delta\n', '');
    assert.deepEqual(contents(translate(unnamed)), ['', 'x', null]);
  });
});
