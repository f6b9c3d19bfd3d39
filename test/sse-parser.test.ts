import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LazyEvent, type SseBlock, SseParser } from '../src/dialect/sse.js';
import { dropEvents, insertFinalText } from '../src/pipeline/reply.js';
import type { StreamReply } from '../src/pipeline/types.js';

/** Everything a parser makes of `chunks`: its blocks (text and event), the tail included. */
function parse(chunks: readonly string[]): SseBlock[] {
  const parser = new SseParser();
  const encoder = new TextEncoder();
  const blocks = chunks.flatMap((c) => parser.feedBlocks(encoder.encode(c)));
  return [...blocks, ...parser.endBlocks()];
}

const events = (blocks: SseBlock[]) =>
  blocks.flatMap((b) => (b.event ? [{ event: b.event.event, data: b.event.data }] : []));

/** Cut `text` at the given fractions into chunks (some may be empty, as network reads can be). */
function cut(text: string, cuts: number[]): string[] {
  const at = [...new Set(cuts.map((f) => Math.floor(f * text.length)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const i of at) {
    out.push(text.slice(from, i));
    from = i;
  }
  out.push(text.slice(from));
  return out;
}

const line = fc.oneof(
  fc.string({ maxLength: 12 }).map((s) => `data: ${s.replace(/[\r\n]/g, '')}`),
  fc.string({ maxLength: 12 }).map((s) => `data:${s.replace(/[\r\n]/g, '')}`),
  fc.constantFrom('event: message_start', 'event:ping', ': a comment', 'data', 'id: 7', ''),
  // Event names of any text, for the name-then-data fast path (Anthropic's shape).
  fc.string({ maxLength: 8 }).map((s) => `event: ${s.replace(/[\r\n]/g, '')}`),
);
const stream = fc
  .array(fc.array(line, { minLength: 1, maxLength: 4 }), { maxLength: 8 })
  .map((blocks) => blocks.map((lines) => `${lines.join('\n')}\n\n`).join(''));

test('LF streams (the fast path) parse to the same events as the same stream with CRLF line ends', () => {
  fc.assert(
    fc.property(
      stream,
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
      (text, cuts) => {
        const lf = parse(cut(text, cuts));
        const crlf = parse(cut(text.replace(/\n/g, '\r\n'), cuts));
        assert.deepEqual(events(lf), events(crlf));
        // The blocks' texts are the stream's bytes, in order, none lost or repeated.
        assert.equal(lf.map((b) => b.text).join(''), text);
      },
    ),
    { numRuns: 500, seed: 20261129 },
  );
});

test('a one-line data block is a lazy event sharing one JSON parse, whatever the chunking', () => {
  const body = 'data: {"a":1}\n\ndata: [DONE]\n\n';
  for (const chunks of [[body], [body.slice(0, 5), body.slice(5)], body.split('')]) {
    const blocks = parse(chunks);
    assert.deepEqual(
      blocks.map((b) => b.event?.data),
      ['{"a":1}', '[DONE]'],
    );
    const first = blocks[0].event;
    assert.ok(first instanceof LazyEvent);
    assert.equal(LazyEvent.from(first), first, 'an event already lazy is not copied');
    assert.deepEqual(first.json(), { a: 1 });
  }
});

test("Anthropic's name-then-data block is one lazy event with its name, whatever the chunking", () => {
  const body = 'event: message_start\ndata: {"a":1}\n\nevent: ping\ndata: \n\nevent: x\n\n';
  for (const chunks of [[body], [body.slice(0, 9), body.slice(9)], body.split('')]) {
    const blocks = parse(chunks);
    assert.deepEqual(
      blocks.map((b) => (b.event ? [b.event.event, b.event.data] : undefined)),
      [['message_start', '{"a":1}'], ['ping', ''], undefined],
    );
    const first = blocks[0].event;
    assert.ok(first instanceof LazyEvent);
    assert.deepEqual(first.json(), { a: 1 });
  }
});

test('an empty line where a block would start is a block of its own, with no event', () => {
  const blocks = parse(['\ndata: x\n\n']);
  assert.deepEqual(
    blocks.map((b) => [b.text, b.event?.data]),
    [
      ['\n', undefined],
      ['data: x\n\n', 'x'],
    ],
  );
});

test('dropping events and inserting the final text give the same bytes however the stream is cut', async () => {
  const event = fc.oneof(
    fc.constant('data: {"usage":1}\n\n'),
    fc.constant('data: [DONE]\n\n'),
    fc.constant(': keep-alive\n\n'),
    fc.string({ maxLength: 10 }).map((s) => `data: {"t":${JSON.stringify(s)}}\n\n`),
    fc.constant('data: {"t":"é€"}\n\n'),
  );
  const run = async (chunks: string[]) => {
    let reply: StreamReply = {
      kind: 'stream',
      status: 200,
      headers: {},
      chunks: (async function* () {
        for (const c of chunks) yield Buffer.from(c);
      })(),
    };
    reply = dropEvents(reply, (e) => e.data === '{"usage":1}');
    reply = insertFinalText(reply, { isFinal: (e) => e.data === '[DONE]', text: () => ': final\n\n' });
    const out: Buffer[] = [];
    for await (const c of reply.chunks) out.push(Buffer.from(c));
    return Buffer.concat(out).toString('utf8');
  };
  await fc.assert(
    fc.asyncProperty(fc.array(event, { maxLength: 12 }), async (events) => {
      const text = events.join('');
      const whole = await run([text]);
      // Cut after every character: never at a block boundary, so the text path rewrites it.
      const bytewise = await run([...text]);
      assert.equal(whole, bytewise);
      // Expected: usage events gone, the final text once, before the first [DONE] (else at the end).
      const kept = events.filter((e) => e !== 'data: {"usage":1}\n\n');
      const done = kept.indexOf('data: [DONE]\n\n');
      if (done === -1) kept.push(': final\n\n');
      else kept.splice(done, 0, ': final\n\n');
      assert.equal(whole, kept.join(''));
    }),
    { numRuns: 300, seed: 29112026 },
  );
});
