import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { performance } from 'node:perf_hooks';
import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';
import { countBounded, countSegmented, EXACT_CHARS } from '../src/tokens/bounded-count.js';
import { countText } from '../src/tokens/count.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const ADMIN = 'admin-secret-linear-tokens';
/** The bound: no request may hold the gateway's event loop longer than this. */
const MAX_LOOP_DELAY_MS = 50;
const PLAIN = { disallowedSpecial: new Set<string>() };
const exact = (text: string) => countTokens(text, PLAIN);

/**
 * The longest time the gateway's event loop was held, from a 1 ms interval probe. Each gap
 * between two ticks is charged the CPU time the process used in it, not its wall time: on a
 * shared machine a gap can be long because the OS ran someone else, which is not the gateway
 * blocking. The longest wall gap is reported alongside.
 */
function loopBlockingProbe() {
  let lastWall = performance.now();
  let lastCpu = process.cpuUsage();
  let maxCpuMs = 0;
  let maxWallMs = 0;
  const timer = setInterval(() => {
    const wall = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    maxCpuMs = Math.max(maxCpuMs, (cpu.user + cpu.system) / 1000);
    maxWallMs = Math.max(maxWallMs, wall - lastWall);
    lastWall = wall;
    lastCpu = process.cpuUsage();
  }, 1);
  return {
    stop() {
      clearInterval(timer);
      return { maxCpuMs, maxWallMs };
    },
  };
}

/** Deterministic pseudo-random text, so a failure reproduces. */
function generator(seed: number) {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}
function cjkRun(chars: number): string {
  const rand = generator(1);
  let out = '';
  for (let i = 0; i < chars; i++) out += String.fromCharCode(0x4e00 + Math.floor(rand() * 3000));
  return out;
}
function emojiRun(chars: number): string {
  const rand = generator(2);
  let out = '';
  while (out.length < chars) out += String.fromCodePoint(0x1f600 + Math.floor(rand() * 80));
  return out;
}
function base64Run(bytes: number): string {
  const rand = generator(3);
  const raw = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = Math.floor(rand() * 256);
  return raw.toString('base64');
}
function prose(chars: number): string {
  const words =
    'the budget committee met on Tuesday to review quarterly spending, and after a long debate it agreed that travel costs would be cut by 12 percent while research funding stays unchanged'.split(
      ' ',
    );
  const rand = generator(4);
  let out = '';
  while (out.length < chars)
    out += `${words[Math.floor(rand() * words.length)]}${rand() < 0.1 ? '.\n' : ' '}`;
  return out;
}

/** The hostile inputs (each was measured blocking /healthz for 10 s to over 5 minutes). */
const hostile: Array<[string, string]> = [
  ['100,000 × "a"', 'a'.repeat(100_000)],
  ['100k CJK characters without punctuation', cjkRun(100_000)],
  ['900 KB of "a"', 'a'.repeat(900_000)],
  ['an emoji run', emojiRun(100_000)],
  ['a base64 run', base64Run(150_000)],
];

describe('token counting is linear and bounded (one request cannot freeze the gateway)', () => {
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    gw = await startTestGateway(
      {
        maxBodyBytes: 4 * 1024 * 1024,
        // Each test key is on the default tier `free`; lift its daily budget so the big prompts
        // are admitted (the budget stage still counts them: that is what used to block).
        cost: { budgets: { tiers: { free: { dailyUsd: 1000 } } } },
      },
      {},
      { SLUICE_ADMIN_KEY: ADMIN },
    );
    const res = await fetch(`${gw.url}/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'hostile' }),
    });
    assert.equal(res.status, 200);
    const { key } = (await res.json()) as { key: string };
    client = new OpenAI({ baseURL: gw.v1, apiKey: key, maxRetries: 0, timeout: 60_000 });
    // The first requests load modules, build the tokenizers' tables and compile the byte-pair
    // code for each script: a one-off start-up cost, not the input-dependent blocking under test.
    for (let i = 0; i < 3; i++) {
      const mixed = `${prose(1_000)} ${cjkRun(300 + i)} ${emojiRun(300)} ${base64Run(300)}`;
      await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: mixed }],
      });
    }
  });
  after(() => gw.close());

  for (const [name, text] of hostile) {
    it(`${name}: the budgeted request is answered, /healthz answers meanwhile, the loop never stalls`, async (t) => {
      const probe = loopBlockingProbe();
      const started = performance.now();
      const answer = client.chat.completions
        .create({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: text }] })
        .withResponse();
      // Time between consecutive /healthz answers (the client shares the gateway's loop here,
      // so a stall shows up as a long gap between answers, not in one probe's latency).
      const healthGaps: number[] = [];
      let lastAnswer = performance.now();
      let done = false;
      void answer.finally(() => {
        done = true;
      });
      while (!done) {
        const res = await fetch(`${gw.url}/healthz`);
        await res.arrayBuffer();
        assert.equal(res.status, 200);
        const now = performance.now();
        healthGaps.push(now - lastAnswer);
        lastAnswer = now;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const { data, response } = await answer;
      const { maxCpuMs, maxWallMs } = probe.stop();
      const elapsed = performance.now() - started;
      t.diagnostic(
        `loop held ≤ ${maxCpuMs.toFixed(1)} ms CPU, longest wall gap ${maxWallMs.toFixed(0)} ms, ` +
          `/healthz answered ${healthGaps.length}× (longest gap ${Math.max(...healthGaps).toFixed(0)} ms), request ${elapsed.toFixed(0)} ms`,
      );
      assert.equal(response.status, 200);
      assert.ok(data.usage && data.usage.prompt_tokens > 0);
      assert.ok(healthGaps.length > 0, '/healthz answered while the request was in flight');
      assert.ok(
        maxCpuMs < MAX_LOOP_DELAY_MS,
        `event loop held for ${maxCpuMs.toFixed(1)} ms of CPU (longest wall gap ${maxWallMs.toFixed(0)} ms, request ${elapsed.toFixed(0)} ms)`,
      );
      // Generous for a shared machine; before the fix the gap was the whole count (6–300 s).
      assert.ok(
        Math.max(...healthGaps) < 1000,
        `/healthz went ${Math.max(...healthGaps).toFixed(0)} ms without answering while the request was in flight`,
      );
    });
  }

  it('bounds the counting call itself on every hostile input (well under the loop budget)', () => {
    for (const [name, text] of hostile) {
      const t0 = performance.now();
      const count = countText(text, 'gpt-4o-mini');
      const ms = performance.now() - t0;
      assert.ok(ms < MAX_LOOP_DELAY_MS, `${name}: counting took ${ms.toFixed(1)} ms`);
      assert.ok(count.tokens > 0);
      assert.equal(count.estimated, text.length > EXACT_CHARS, `${name}: flagged estimated when sampled`);
    }
  });

  it('keeps ordinary text exact and long runs within 1 % of the exact count', () => {
    for (const chars of [200, 2_000, 20_000]) {
      const text = prose(chars);
      assert.deepEqual(
        countText(text, 'gpt-4o'),
        { tokens: exact(text), estimated: false },
        `prose ${chars}`,
      );
      assert.equal(countText(text, 'gpt-4').tokens, countCl100k(text, PLAIN), `prose ${chars} (cl100k)`);
    }
    // Runs the exact tokenizer can still do in reasonable time: segmenting them costs under 1 %.
    for (const [name, text] of [
      ['"a" run', 'a'.repeat(8_000)],
      ['CJK run', cjkRun(4_000)],
      ['emoji run', emojiRun(4_000)],
      ['base64 run', base64Run(6_000)],
    ] as const) {
      const want = exact(text);
      const got = countSegmented(text, exact).tokens;
      assert.ok(Math.abs(got - want) / want < 0.01, `${name}: ${got} vs exact ${want}`);
    }
    // Past EXACT_CHARS the count is a sample; on uniform text it stays within 1 %.
    const long = prose(200_000);
    const sampled = countBounded(long, exact);
    assert.equal(sampled.estimated, true);
    const want = exact(long);
    assert.ok(Math.abs(sampled.tokens - want) / want < 0.01, `sampled ${sampled.tokens} vs exact ${want}`);
  });

  it('never splits a surrogate pair when cutting a run', () => {
    const seen: string[] = [];
    countSegmented(`x${emojiRun(1_000)}`, (segment) => {
      seen.push(segment);
      return 0;
    });
    assert.ok(seen.length > 1);
    for (const segment of seen) assert.doesNotMatch(segment, /^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
    assert.equal(seen.join(''), `x${emojiRun(1_000)}`);
  });
});
