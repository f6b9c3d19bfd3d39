import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { SecretScrubber } from '../src/upstream/scrub.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const OPENAI_KEY = `sk-echo-${randomBytes(20).toString('hex')}`;
const ANTHROPIC_KEY = `sk-ant-echo-${randomBytes(20).toString('hex')}`;
const KEYS = [OPENAI_KEY, ANTHROPIC_KEY];

/** The credential the gateway sent, as a careless provider (or a proxy before it) would echo it. */
function presentedKey(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') return auth.replace(/^Bearer /, '');
  return String(req.headers['x-api-key'] ?? '');
}

async function readJson(req: IncomingMessage): Promise<{ messages?: Array<{ content?: unknown }> }> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An upstream that leaks the key it receives everywhere it can: error bodies, rate-limit
 * headers (values and names), model ids, a 2xx body, a stream split mid-key, and SSE error events.
 * The prompt picks the behaviour.
 */
async function startEchoingUpstream(): Promise<{ url: string; server: Server; seenKeys: Set<string> }> {
  const seenKeys = new Set<string>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const key = presentedKey(req);
    seenKeys.add(key);
    const leakyHeaders = {
      'content-type': 'application/json',
      'x-ratelimit-remaining-requests': `99; key=${key}`,
      [`x-ratelimit-${key}`]: '1',
      'retry-after': '0',
    };
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, leakyHeaders);
      const ids = ['gpt-echo', `gpt-${key}`, 'claude-echo', `claude-${key}`];
      res.end(JSON.stringify({ object: 'list', data: ids.map((id) => ({ id, object: 'model' })) }));
      return;
    }
    const body = await readJson(req);
    const prompt = String(body.messages?.[0]?.content ?? '');
    const anthropic = req.url === '/v1/messages';
    if (prompt.startsWith('error')) {
      const status = prompt === 'error 500' ? 500 : 401;
      res.writeHead(status, leakyHeaders);
      const message = `Incorrect API key provided: ${key}. You can find your API key at https://example.test.`;
      res.end(
        JSON.stringify(
          anthropic
            ? { type: 'error', error: { type: 'authentication_error', message } }
            : { error: { message, type: 'invalid_request_error', code: 'invalid_api_key', param: null } },
        ),
      );
      return;
    }
    if (prompt === 'stream') {
      res.writeHead(200, { ...leakyHeaders, 'content-type': 'text/event-stream' });
      const split = 12;
      if (anthropic) {
        res.write(
          `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-echo', content: [], stop_reason: null, usage: { input_tokens: 3, output_tokens: 0 } } })}\n\n`,
        );
        await sleep(20);
        res.write(
          `event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"key ${key.slice(0, split)}`,
        );
        await sleep(20);
        res.end(`${key.slice(split)} overloaded"}}\n\n`);
        return;
      }
      const chunk = (content: string) =>
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 0, model: 'gpt-echo', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
      const first = chunk(`your key is ${key}`);
      const at = first.indexOf(key) + split;
      // The key crosses two TCP writes: no single chunk holds it whole.
      res.write(first.slice(0, at));
      await sleep(20);
      res.write(first.slice(at));
      await sleep(20);
      res.end(
        `data: ${JSON.stringify({ error: { message: `stream failed for ${key}`, type: 'server_error' } })}\n\n`,
      );
      return;
    }
    res.writeHead(200, leakyHeaders);
    const text = `I was called with ${key}`;
    res.end(
      JSON.stringify(
        anthropic
          ? {
              id: 'msg_1',
              type: 'message',
              role: 'assistant',
              model: 'claude-echo',
              content: [{ type: 'text', text }],
              stop_reason: 'end_turn',
              stop_sequence: null,
              usage: { input_tokens: 3, output_tokens: 5 },
            }
          : {
              id: 'c1',
              object: 'chat.completion',
              created: 0,
              model: 'gpt-echo',
              choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
            },
      ),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, seenKeys };
}

function assertNoKey(where: string, text: string): void {
  for (const key of KEYS)
    assert.ok(!text.includes(key), `${where} carries a provider key: ${text.slice(0, 300)}`);
}

/** Everything a raw client receives: status line aside, every header name and value and the body. */
async function received(res: Response): Promise<string> {
  const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  return `${headers}\n\n${await res.text()}`;
}

describe('provider keys echoed by an upstream never reach the client', () => {
  let upstream: Awaited<ReturnType<typeof startEchoingUpstream>>;
  let gw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;
  before(async () => {
    upstream = await startEchoingUpstream();
    gw = await startTestGateway(
      {
        cache: { enabled: false },
        retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
        upstreams: [
          {
            name: 'echo-openai',
            kind: 'openai',
            baseUrl: `${upstream.url}/v1`,
            apiKeyEnv: 'ECHO_OPENAI_KEY',
            models: ['gpt-*'],
          },
          {
            name: 'echo-anthropic',
            kind: 'anthropic',
            baseUrl: `${upstream.url}/v1`,
            apiKeyEnv: 'ECHO_ANTHROPIC_KEY',
            models: ['claude-*'],
          },
        ],
      },
      {},
      { ECHO_OPENAI_KEY: OPENAI_KEY, ECHO_ANTHROPIC_KEY: ANTHROPIC_KEY },
    );
    openai = new OpenAI({ baseURL: gw.v1, apiKey: 'client-key', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'client-key', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    upstream.server.close();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${gw.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('the upstream really received the keys (the leak is real)', async () => {
    const res = await post('/v1/chat/completions', {
      model: 'gpt-echo',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await res.arrayBuffer();
    assert.ok(upstream.seenKeys.has(OPENAI_KEY));
  });

  it('scrubs error bodies and forwarded headers, passed-through and after retries', async () => {
    for (const content of ['error 401', 'error 500']) {
      const res = await post('/v1/chat/completions', {
        model: 'gpt-echo',
        messages: [{ role: 'user', content }],
      });
      assert.ok(res.status === 401 || res.status === 500, `status ${res.status}`);
      assert.match(res.headers.get('x-ratelimit-remaining-requests') ?? '', /^99; key=\[redacted\]$/);
      const seen = await received(res);
      assertNoKey(`${content} reply`, seen);
      assert.match(seen, /Incorrect API key provided: \[redacted\]/);
    }
    const res = await post('/v1/messages', {
      model: 'claude-echo',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'error 401' }],
    });
    assert.equal(res.status, 401);
    assertNoKey('anthropic error reply', await received(res));
  });

  it('keeps the key out of what the official SDKs report', async () => {
    const err = await openai.chat.completions
      .create({ model: 'gpt-echo', messages: [{ role: 'user', content: 'error 401' }] })
      .then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof OpenAI.AuthenticationError);
    assertNoKey('SDK error message', err.message);
    assertNoKey('SDK error headers', JSON.stringify(Object.fromEntries(err.headers ?? new Headers())));

    const aErr = await anthropic.messages
      .create({ model: 'claude-echo', max_tokens: 10, messages: [{ role: 'user', content: 'error 401' }] })
      .then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
    assert.ok(aErr instanceof Anthropic.AuthenticationError);
    assertNoKey('Anthropic SDK error', `${aErr.message} ${JSON.stringify(aErr.error)}`);
  });

  it('scrubs headers and body of a 2xx answer', async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: 'gpt-echo', messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    assertNoKey('2xx content', data.choices[0].message.content ?? '');
    assertNoKey('2xx headers', JSON.stringify(Object.fromEntries(response.headers)));
    assert.equal(data.choices[0].message.content, 'I was called with [redacted]');
    const msg = await anthropic.messages.create({
      model: 'claude-echo',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hello' }],
    });
    assertNoKey('anthropic 2xx', JSON.stringify(msg));
  });

  it('scrubs a key split across stream chunks and SSE error events', async () => {
    const raw = await post('/v1/chat/completions', {
      model: 'gpt-echo',
      stream: true,
      messages: [{ role: 'user', content: 'stream' }],
    });
    assert.equal(raw.status, 200);
    const seen = await received(raw);
    assertNoKey('raw OpenAI stream', seen);
    assert.match(seen, /your key is \[redacted\]/);
    assert.match(seen, /stream failed for \[redacted\]/);

    const stream = await openai.chat.completions.create({
      model: 'gpt-echo',
      stream: true,
      messages: [{ role: 'user', content: 'stream' }],
    });
    let text = '';
    const streamErr = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.equal(text, 'your key is [redacted]');
    assert.ok(streamErr instanceof OpenAI.APIError, 'the SSE error event reaches the SDK');
    assertNoKey('SDK stream error', streamErr.message);

    const anthropicRaw = await post('/v1/messages', {
      model: 'claude-echo',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'stream' }],
    });
    const anthropicSeen = await received(anthropicRaw);
    assertNoKey('raw Anthropic stream', anthropicSeen);
    assert.match(anthropicSeen, /event: error\ndata: .*key \[redacted\] overloaded/);
  });

  it('leaves model ids that echo a key out of /v1/models', async () => {
    const raw = await fetch(`${gw.v1}/models`);
    const seen = await received(raw);
    assertNoKey('/v1/models', seen);
    const ids: string[] = [];
    for await (const model of openai.models.list()) ids.push(model.id);
    assert.ok(ids.includes('gpt-echo') && ids.includes('claude-echo'), ids.join(','));
    assert.ok(!ids.some((id) => id.includes('redacted')), 'a leaking id is dropped, not renamed');
  });
});

describe('SecretScrubber', () => {
  const key = 'sk-test-0123456789abcdef';
  const scrubber = new SecretScrubber([key, 'short']);

  it('returns the same bytes when no key occurs, without copying', () => {
    const clean = Buffer.from('{"ok":true}');
    assert.equal(scrubber.bytes(clean), clean);
  });

  it('ignores keys too short to match safely', () => {
    assert.equal(scrubber.text('a short answer'), 'a short answer');
  });

  it('finds a key split at every possible point of a stream', () => {
    const text = `data: {"x":"${key}"}\n\ndata: {"y":"${key}${key}"}\n\n`;
    for (let cut = 1; cut < text.length; cut++) {
      for (let cut2 = cut; cut2 < text.length; cut2 += 7) {
        const s = scrubber.stream();
        const parts = [text.slice(0, cut), text.slice(cut, cut2), text.slice(cut2)].map((p) =>
          Buffer.from(s.push(Buffer.from(p))).toString(),
        );
        const tail = s.flush();
        const out = parts.join('') + (tail ? Buffer.from(tail).toString() : '');
        assert.equal(out, text.replaceAll(key, '[redacted]'), `cuts at ${cut}, ${cut2}`);
      }
    }
  });

  it('holds nothing back when a chunk ends an SSE event', () => {
    const s = scrubber.stream();
    const chunk = Buffer.from('data: {"content":"s"}\n\n');
    assert.equal(s.push(chunk).byteLength, chunk.byteLength);
    assert.equal(s.flush(), undefined);
  });
});
