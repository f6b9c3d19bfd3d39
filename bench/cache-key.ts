/**
 * Micro-benchmark of the exact-cache key (`canonicalKey`), which runs on every cacheable
 * request, hits included. Compares the shipped key (objects canonical at every depth) with the
 * previous one (top-level fields sorted, values as `JSON.stringify` gives them), rebuilt here
 * as `topLevelOnlyKey`, on a typical chat body and on large ones.
 * Run: npm run bench:cache-key
 */
import { createHash } from 'node:crypto';
import { canonicalKey } from '../src/cache/key.js';
import { OPENAI_CHAT_KEYED } from '../src/dialect/request-fields.js';
import { compositeKey } from '../src/store/composite-key.js';

type Body = Record<string, unknown>;

/** The key as it was before issue 13 (exact-v2): nested objects kept the client's key order. */
function topLevelOnlyKey(body: Body, scope: string): string {
  const table: Readonly<Record<string, boolean>> = OPENAI_CHAT_KEYED;
  let canonical = `sluice-exact-v2\0openai\0chat\0${scope}\0`;
  for (const field of Object.keys(body).sort()) {
    const value = body[field];
    if (value === undefined || value === null || table[field] === false) continue;
    canonical += `${JSON.stringify(field)}\0${JSON.stringify(value)}\0`;
  }
  const hash = createHash('sha256').update(canonical).digest('base64url');
  return compositeKey('exact-v2', scope, String(body.model), hash);
}

const SENTENCE = 'The quarterly budget committee reviewed the figures and asked for a summary by Friday. ';

const weatherTool = (i: number) => ({
  type: 'function',
  function: {
    name: `lookup_${i}`,
    description: 'Look up the current weather for a city and return temperature and conditions.',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'City name' },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        days: { type: 'integer', minimum: 1, maximum: 14 },
      },
      required: ['city'],
      additionalProperties: false,
    },
  },
});

const turns = (count: number, repeat: number) =>
  Array.from({ length: count }, (_, i) => ({
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: `${i}: ${SENTENCE.repeat(repeat)}`,
  }));

const BODIES: Array<{ name: string; body: Body }> = [
  {
    name: 'typical: system + 4 turns, 2 tools (~2 KB)',
    body: {
      model: 'gpt-4o-mini',
      messages: [{ role: 'system', content: 'You are a helpful assistant.' }, ...turns(4, 2)],
      tools: [weatherTool(1), weatherTool(2)],
      temperature: 0.2,
      max_tokens: 256,
    },
  },
  {
    name: 'long chat: 64 turns (~60 KB)',
    body: { model: 'gpt-4o', messages: turns(64, 10), temperature: 0 },
  },
  {
    name: 'content blocks: 200 turns of 3 blocks (~90 KB)',
    body: {
      model: 'gpt-4o',
      messages: Array.from({ length: 200 }, (_, i) => ({
        role: i % 2 === 0 ? 'user' : 'assistant',
        content: [
          { type: 'text', text: `${i}: ${SENTENCE}` },
          { type: 'text', text: SENTENCE.repeat(2) },
          { type: 'text', text: 'ok' },
        ],
      })),
    },
  },
  {
    name: 'many tools: 128 tool schemas (~60 KB)',
    body: {
      model: 'gpt-4o',
      messages: turns(2, 1),
      tools: Array.from({ length: 128 }, (_, i) => weatherTool(i)),
    },
  },
  {
    name: 'one big prompt: 1 turn of 1 MB',
    body: { model: 'gpt-4o', messages: [{ role: 'user', content: SENTENCE.repeat(12_000) }] },
  },
];

/**
 * Median µs per call of `a` and of `b`, timed in alternating batches (the machine is shared:
 * interleaving exposes both to the same background load), after a warm-up.
 */
function measurePair(a: () => string, b: () => string): [number, number] {
  const once = Math.max(time(a, 1), time(b, 1), 1);
  const batch = Math.max(1, Math.min(2000, Math.round(20_000 / once)));
  time(a, batch * 3);
  time(b, batch * 3);
  const ra: number[] = [];
  const rb: number[] = [];
  for (let r = 0; r < 21; r++) {
    ra.push(time(a, batch) / batch);
    rb.push(time(b, batch) / batch);
  }
  return [median(ra), median(rb)];
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

function time(fn: () => string, times: number): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < times; i++) sink += fn().length;
  const elapsed = Number(process.hrtime.bigint() - start) / 1000;
  if (sink < 0) console.log(sink);
  return elapsed;
}

const scope = compositeKey('t', 'blue');
console.log('| body | size | before: top level sorted (µs) | after: every depth (µs) | after ÷ before |');
console.log('|---|--:|--:|--:|--:|');
for (const { name, body } of BODIES) {
  const size = Buffer.byteLength(JSON.stringify(body));
  const [before, after] = measurePair(
    () => topLevelOnlyKey(body, scope),
    () => canonicalKey({ dialect: 'openai', route: 'chat', scope, body }),
  );
  const kb = size >= 1024 * 1024 ? `${(size / 1024 / 1024).toFixed(1)} MB` : `${(size / 1024).toFixed(1)} KB`;
  console.log(
    `| ${name} | ${kb} | ${before.toFixed(1)} | ${after.toFixed(1)} | ${(after / before).toFixed(2)}× |`,
  );
}
