/**
 * Hostile and unlucky input at the HTTP edge (issue 8, points 2 and 4): names that cannot go
 * into a header as they are, bodies that are not well-formed Unicode, absurd nesting, admin
 * bodies of the wrong type, parameters a provider would refuse. Every request must get exactly
 * one reply, in its route's error shape when refused, before anything is called or billed; the
 * ledger must record the status the client actually got.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { simulatedUpstreams } from '../src/app.js';
import { validateConfig } from '../src/config/load.js';
import { Ledger, type LedgerRow } from '../src/cost/ledger.js';
import { PriceBook } from '../src/cost/prices.js';
import { recordStage } from '../src/cost/record-stage.js';
import type { Gateway } from '../src/gateway.js';
import { compose } from '../src/pipeline/compose.js';
import type { Reply, RequestContext } from '../src/pipeline/types.js';
import { createHttpServer, listen } from '../src/server/http.js';
import { headerValue, MAX_HEADER_VALUE_CHARS } from '../src/pipeline/header-value.js';
import { validateBody } from '../src/dialect/validate.js';
import { MAX_JSON_DEPTH, nestsTooDeep } from '../src/dialect/well-formed.js';
import { MemoryLedgerStore } from '../src/store/memory.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const ADMIN = 'hostile-admin-key-123';
/** Long enough for a real answer on a loaded machine; a hang fails here instead of at the suite's end. */
const REPLY_WITHIN_MS = 10_000;

async function ledgerRows(gw: TestGateway, user: string): Promise<LedgerRow[]> {
  const { ledger } = gw.sluice.gateway.economy;
  await ledger.idle();
  return ledger.query({ since: 0, where: { user } });
}

/** POST raw bytes, as no SDK would send them. */
function post(url: string, body: string | Uint8Array, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(REPLY_WITHIN_MS),
  });
}

interface OpenAIErrorJson {
  error: { message: string; type: string; param: string | null };
}
interface AnthropicErrorJson {
  type: 'error';
  error: { type: string; message: string };
}

describe('hostile input at the edge', () => {
  let gw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;
  const upstreamCalls = () => gw.mock.received.length;

  before(async () => {
    gw = await startTestGateway(
      {
        cost: {
          // A price high enough that one short answer crosses the warning line of a $10 budget.
          prices: { 'gpt-4o-mini': { inputPerMTok: 1000, outputPerMTok: 1000 } },
          budgets: { warnAt: 0.001, users: { '€uro': { dailyUsd: 10 } } },
        },
      },
      {},
      { SLUICE_ADMIN_KEY: ADMIN },
    );
    openai = new OpenAI({ baseURL: gw.v1, apiKey: 'unused', maxRetries: 0, timeout: REPLY_WITHIN_MS });
    anthropic = new Anthropic({
      baseURL: gw.url,
      apiKey: 'unused',
      maxRetries: 0,
      timeout: REPLY_WITHIN_MS,
    });
  });
  after(() => gw.close());

  describe('names that are not Latin-1 reach header values safely (point 2)', () => {
    it('answers a model named gpt-4o-mini-€, records what the client got, and answers the repeat', async () => {
      const params = {
        model: 'gpt-4o-mini-€',
        temperature: 0,
        user: 'model-euro',
        messages: [{ role: 'user' as const, content: 'a model with a euro sign' }],
      };
      const first = await openai.chat.completions.create(params).withResponse();
      assert.equal(first.response.status, 200);
      assert.equal(first.response.headers.get('x-sluice-model'), 'gpt-4o-mini-%E2%82%AC');
      assert.equal(first.response.headers.get('x-sluice-cache'), 'miss');

      const repeat = await openai.chat.completions.create(params).withResponse();
      assert.equal(repeat.response.status, 200);
      assert.equal(repeat.response.headers.get('x-sluice-cache'), 'exact');
      assert.equal(repeat.data.id, first.data.id);

      const rows = await ledgerRows(gw, 'model-euro');
      assert.deepEqual(
        rows.map((r) => [r.status, r.cache, r.requestedModel]),
        [
          [200, 'miss', 'gpt-4o-mini-€'],
          [200, 'exact', 'gpt-4o-mini-€'],
        ],
      );
    });

    it('answers a user €uro once the budget warning fires, stream and repeat included', async () => {
      const ask = (content: string) => ({
        model: 'gpt-4o-mini',
        temperature: 0,
        max_tokens: 20,
        user: '€uro',
        messages: [{ role: 'user' as const, content }],
      });
      // The first call crosses the line, and the warning comes on it (issue 13 point 5).
      const warned = await openai.chat.completions.create(ask('now warn me')).withResponse();
      assert.equal(warned.response.status, 200);
      const warning = warned.response.headers.get('x-sluice-budget-warning') ?? '';
      assert.match(warning, /scope=user; id=%E2%82%ACuro; window=day; used=\d+%/);

      const repeat = await openai.chat.completions.create(ask('now warn me')).withResponse();
      assert.equal(repeat.response.headers.get('x-sluice-cache'), 'exact');
      assert.equal(repeat.data.id, warned.data.id);
      assert.ok(repeat.response.headers.get('x-sluice-budget-warning'));

      const stream = await openai.chat.completions.create({ ...ask('stream with a warning'), stream: true });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.ok(text.length > 0);

      const rows = await ledgerRows(gw, '€uro');
      assert.deepEqual(
        rows.map((r) => r.status),
        [200, 200, 200],
      );
      assert.ok(rows.every((r) => r.outcome === 'ok'));
    });

    it('refuses a body with an invalid UTF-8 byte before calling anyone', async () => {
      const before = upstreamCalls();
      const body = Buffer.concat([
        Buffer.from('{"model":"gpt-4o-mini-'),
        Buffer.from([0xff]),
        Buffer.from('","messages":[{"role":"user","content":"hi"}]}'),
      ]);
      const res = await post(`${gw.v1}/chat/completions`, body);
      assert.equal(res.status, 400);
      const json = (await res.json()) as OpenAIErrorJson;
      assert.equal(json.error.type, 'invalid_request_error');
      assert.match(json.error.message, /not valid UTF-8/);
      assert.equal(upstreamCalls(), before);
    });
  });

  describe('malformed input is a 400 in the route shape, before anything is called (point 4)', () => {
    const chat = (fields: string) =>
      `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]${fields}}`;
    const messages = (fields: string) =>
      `{"model":"claude-3-5-haiku-latest","max_tokens":16,"messages":[{"role":"user","content":"hi"}]${fields}}`;

    it('refuses lone surrogates in model, user and metadata.user_id', async () => {
      const before = upstreamCalls();
      const cases: Array<[string, string, string, string]> = [
        ['chat', '/v1/chat/completions', chat('').replace('gpt-4o-mini', 'gpt-4o-mini\\ud800'), 'model'],
        ['chat', '/v1/chat/completions', chat(',"user":"bob\\udc00"'), 'user'],
        ['messages', '/v1/messages', messages(',"metadata":{"user_id":"\\ud83d"}'), 'metadata.user_id'],
      ];
      for (const [route, path, body, param] of cases) {
        const res = await post(`${gw.url}${path}`, body);
        assert.equal(res.status, 400, `${route} ${param}`);
        if (route === 'chat') {
          const json = (await res.json()) as OpenAIErrorJson;
          assert.equal(json.error.type, 'invalid_request_error');
          assert.equal(json.error.param, param);
          assert.match(json.error.message, /lone surrogate/);
        } else {
          const json = (await res.json()) as AnthropicErrorJson;
          assert.equal(json.type, 'error');
          assert.equal(json.error.type, 'invalid_request_error');
          assert.match(json.error.message, /metadata\.user_id.*lone surrogate/);
        }
      }
      assert.equal(upstreamCalls(), before);
      assert.equal((await ledgerRows(gw, 'bob\udc00')).length, 0);
    });

    it('keeps a well-formed surrogate pair (an emoji) working', async () => {
      const res = await post(`${gw.v1}/chat/completions`, chat(',"user":"emoji-\\ud83d\\ude00"'));
      assert.equal(res.status, 200);
      assert.equal((await ledgerRows(gw, 'emoji-😀')).length, 1);
    });

    it('refuses nesting 10,000 levels deep on both routes', async () => {
      const before = upstreamCalls();
      const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const openaiRes = await post(`${gw.v1}/chat/completions`, chat(`,"temperature":0,"extra":${deep}`));
      assert.equal(openaiRes.status, 400);
      const openaiJson = (await openaiRes.json()) as OpenAIErrorJson;
      assert.match(openaiJson.error.message, /nested deeper than \d+ levels/);

      const anthropicRes = await post(`${gw.url}/v1/messages`, messages(`,"metadata":{"deep":${deep}}`));
      assert.equal(anthropicRes.status, 400);
      const anthropicJson = (await anthropicRes.json()) as AnthropicErrorJson;
      assert.equal(anthropicJson.error.type, 'invalid_request_error');
      assert.match(anthropicJson.error.message, /nested deeper than \d+ levels/);
      assert.equal(upstreamCalls(), before);
    });

    it('refuses n on /v1/messages (Anthropic has no n)', async () => {
      const before = upstreamCalls();
      await assert.rejects(
        anthropic.messages.create({
          model: 'claude-3-5-haiku-latest',
          max_tokens: 16,
          messages: [{ role: 'user', content: 'two answers please' }],
          // Not in the SDK's types: the SDK sends it anyway, as a confused client would.
          ...({ n: 2 } as object),
        }),
        (e: unknown) =>
          e instanceof Anthropic.BadRequestError &&
          /\bn\b.*not supported/.test(e.message) &&
          (e.error as AnthropicErrorJson).error.type === 'invalid_request_error',
      );
      assert.equal(upstreamCalls(), before);
    });

    it('refuses known parameters of the wrong type or range without an upstream call', async () => {
      const before = upstreamCalls();
      const openaiCases: Array<[string, string]> = [
        [',"top_p":1.5', 'top_p'],
        [',"presence_penalty":3', 'presence_penalty'],
        [',"user":42', 'user'],
        [',"stop":7', 'stop'],
        [',"seed":1.5', 'seed'],
      ];
      for (const [fields, param] of openaiCases) {
        const res = await post(`${gw.v1}/chat/completions`, chat(fields));
        assert.equal(res.status, 400, fields);
        assert.equal(((await res.json()) as OpenAIErrorJson).error.param, param);
      }
      const anthropicCases = [
        ',"top_k":-1',
        ',"top_p":2',
        ',"stop_sequences":"END"',
        ',"metadata":{"user_id":7}',
      ];
      for (const fields of anthropicCases) {
        const res = await post(`${gw.url}/v1/messages`, messages(fields));
        assert.equal(res.status, 400, fields);
        assert.equal(((await res.json()) as AnthropicErrorJson).error.type, 'invalid_request_error');
      }
      assert.equal(upstreamCalls(), before);
    });

    it('still passes unknown parameters through to OpenAI-compatible servers', async () => {
      const res = await post(
        `${gw.v1}/chat/completions`,
        chat(',"user":"passthrough","repetition_penalty":1.1'),
      );
      assert.equal(res.status, 200);
      const sent = gw.mock.received.at(-1)?.body as Record<string, unknown>;
      assert.equal(sent.repetition_penalty, 1.1);
    });

    it('answers POST /admin/cache/purge with a body that is not an object with 400', async () => {
      for (const body of ['null', '[]', '"everything"', '{"user":5}', '{"user":"\\ud800"}']) {
        const res = await post(`${gw.url}/admin/cache/purge`, body, { authorization: `Bearer ${ADMIN}` });
        assert.equal(res.status, 400, body);
        const json = (await res.json()) as OpenAIErrorJson;
        assert.equal(json.error.type, 'invalid_request_error', body);
      }
      const ok = await post(`${gw.url}/admin/cache/purge`, '{"model":"nothing-cached"}', {
        authorization: `Bearer ${ADMIN}`,
      });
      assert.deepEqual(await ok.json(), { purged: 0 });
    });
  });
});

describe('the edge replies exactly once even when a reply cannot be written', () => {
  let server: Server;
  let url: string;
  const store = new MemoryLedgerStore<LedgerRow>();
  const ledger = new Ledger(store);
  let streamReleased = false;

  /** A pipeline whose replies carry a header Node refuses to write (a name that is not a token). */
  const unwritable = async (ctx: RequestContext): Promise<Reply> => {
    const headers = { 'content-type': 'application/json', 'bad header name': 'x' };
    if (!ctx.stream) return { kind: 'json', status: 200, headers, body: Buffer.from('{"ok":true}') };
    async function* chunks() {
      try {
        yield Buffer.from('data: {}\n\n');
      } finally {
        streamReleased = true;
      }
    }
    ctx.signal.addEventListener('abort', () => {
      streamReleased = true;
    });
    return { kind: 'stream', status: 200, headers, chunks: chunks() };
  };

  before(async () => {
    const handle = compose([recordStage({ ledger, prices: new PriceBook(), abortGraceMs: 20 }), unwritable]);
    // Only what the edge uses of a Gateway: the pipeline, the config and a logger.
    const config = validateConfig({ upstreams: simulatedUpstreams('http://127.0.0.1:9') });
    const gateway = { handle, config, log: { error() {}, warn() {} } } as unknown as Gateway;
    server = createHttpServer(gateway);
    ({ url } = await listen(server, 0, '127.0.0.1'));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  for (const stream of [false, true]) {
    it(`falls back to a bare 500 and records it (${stream ? 'stream' : 'JSON'})`, async () => {
      const user = `unwritable-${stream}`;
      const res = await post(
        `${url}/v1/messages`,
        JSON.stringify({
          model: 'claude-3-5-haiku-latest',
          max_tokens: 8,
          stream,
          messages: [{ role: 'user', content: 'hi' }],
        }),
        { 'x-sluice-user': user },
      );
      assert.equal(res.status, 500);
      assert.deepEqual([...res.headers.keys()].sort(), [
        'connection',
        'content-length',
        'content-type',
        'date',
      ]);
      const json = (await res.json()) as AnthropicErrorJson;
      assert.equal(json.type, 'error');
      assert.match(json.error.message, /could not write/);

      // A dropped stream is settled after the abort grace period.
      const deadline = Date.now() + 2_000;
      let rows: LedgerRow[] = [];
      while (Date.now() < deadline) {
        await ledger.idle();
        rows = await ledger.query({ since: 0, where: { user } });
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(rows.length, 1);
      assert.equal(rows[0].status, 500);
      assert.equal(rows[0].outcome, 'error');
      assert.equal(rows[0].errorCode, 'reply_failed');
      if (stream) assert.ok(streamReleased, 'the stream that could not be sent is released');
    });
  }
});

describe('header values and body checks', () => {
  it('keeps printable ASCII, drops control characters, percent-encodes the rest', () => {
    assert.equal(headerValue('scope=user; used=85%'), 'scope=user; used=85%');
    assert.equal(headerValue('a\r\nset-cookie: x\u0000\u007f'), 'aset-cookie: x');
    assert.equal(headerValue('café-€-😀'), 'caf%C3%A9-%E2%82%AC-%F0%9F%98%80');
    assert.equal(headerValue('x\ud800y'), 'x%EF%BF%BDy');
    const long = headerValue('€'.repeat(MAX_HEADER_VALUE_CHARS));
    assert.ok(long.length <= MAX_HEADER_VALUE_CHARS);
    assert.match(long, /^(%E2%82%AC)+$/, 'cut at a whole character');
  });

  it('refuses depth and lone surrogates in library calls too (no raw bytes to scan there)', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], extra: deep };
    assert.throws(() => validateBody('chat', body), /extra\.0\.0\.0…: nested deeper than 100 levels/);
    assert.throws(
      () => validateBody('chat', { model: 'm', messages: [{ role: 'user', content: ['ok', 'bad\udfff'] }] }),
      (e: Error & { extra?: { param?: string } }) => e.extra?.param === 'messages.0.content.1',
    );
    assert.throws(
      () => validateBody('chat', { model: 'm', messages: [{ role: 'user', '\ud800': 1 }] }),
      /lone surrogate/,
    );
  });

  it('finds the nesting bound on raw bytes, skipping brackets inside strings', () => {
    const nested = (levels: number) => Buffer.from(`${'['.repeat(levels)}${']'.repeat(levels)}`);
    assert.equal(nestsTooDeep(nested(MAX_JSON_DEPTH)), false);
    assert.equal(nestsTooDeep(nested(MAX_JSON_DEPTH + 1)), true);
    assert.equal(nestsTooDeep(Buffer.from(JSON.stringify({ text: '['.repeat(500), quote: '\\"[[' }))), false);
    const t0 = performance.now();
    assert.equal(nestsTooDeep(nested(5_000_000)), true);
    assert.ok(performance.now() - t0 < 50, 'stops at the first byte past the bound');
  });
});
