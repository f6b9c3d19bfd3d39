import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { type RunningSluice, simulatedUpstreams, startSluice } from '../src/app.js';
import type { Config } from '../src/config/index.js';
import { validateConfig } from '../src/config/load.js';
import { type MockUpstream, startMockUpstream } from '../src/mock/index.js';
import { countChatTokens } from '../src/tokens/count.js';

const ADMIN = 'admin-routes-key-123';
const FINE_TUNED = 'ft:gpt-4o-mini:acme:support:9xYz';
const SLASHED = 'openai/gpt-4o';

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startGateway(
  upstreams: Config['upstreams'],
  overrides: Record<string, unknown> = {},
): Promise<RunningSluice> {
  const config = validateConfig({
    port: 0,
    logLevel: 'silent',
    dataDir: `/tmp/sluice-test-${process.pid}-${Math.random().toString(36).slice(2)}`,
    upstreams,
    ...overrides,
  });
  return startSluice({ config, env: { SLUICE_ADMIN_KEY: ADMIN } });
}

describe('routes clients call by default', () => {
  let mock: MockUpstream;
  let gw: RunningSluice;
  let openai: OpenAI;
  let anthropic: Anthropic;

  before(async () => {
    mock = await startMockUpstream();
    gw = await startGateway([
      // Exact model names holding ':' and '/', listed by GET /v1/models as configured.
      {
        name: 'tuned',
        kind: 'openai',
        baseUrl: `${mock.url}/v1`,
        models: [FINE_TUNED, SLASHED],
      } as Config['upstreams'][number],
      ...simulatedUpstreams(mock.url),
    ]);
    openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await mock.close();
  });

  describe('GET /v1/models/{id}', () => {
    it('retrieves one model in OpenAI shape, ids with ":" and "/" included', async () => {
      for (const id of [FINE_TUNED, SLASHED, 'gpt-4o-mini']) {
        const model = await openai.models.retrieve(id);
        assert.equal(model.id, id);
        assert.equal(model.object, 'model');
        assert.equal(typeof model.created, 'number');
        assert.equal(model.owned_by, id === 'gpt-4o-mini' ? 'simulated-openai' : 'tuned');
      }
    });

    it('accepts an id whose "/" the client did not encode', async () => {
      const res = await fetch(`${gw.url}/v1/models/${SLASHED}`);
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { id: string }).id, SLASHED);
    });

    it('retrieves one model in Anthropic shape for the Anthropic SDK', async () => {
      const model = await anthropic.models.retrieve('claude-sonnet-4-5');
      assert.deepEqual(Object.keys(model).sort(), ['created_at', 'display_name', 'id', 'type']);
      assert.equal(model.type, 'model');
      assert.equal(model.id, 'claude-sonnet-4-5');
      assert.ok(!Number.isNaN(Date.parse(model.created_at)));
      const page = await anthropic.models.list();
      assert.ok(page.data.some((m) => m.id === 'claude-sonnet-4-5' && m.type === 'model'));
    });

    it('answers an unknown id 404 model_not_found in each SDK’s shape', async () => {
      await assert.rejects(openai.models.retrieve('gpt-nonexistent'), (e: unknown) => {
        assert.ok(e instanceof OpenAI.NotFoundError);
        assert.equal(e.code, 'model_not_found');
        return true;
      });
      await assert.rejects(anthropic.models.retrieve('claude-nonexistent'), (e: unknown) => {
        assert.ok(e instanceof Anthropic.NotFoundError);
        assert.equal((e.error as { error: { type: string } }).error.type, 'not_found_error');
        return true;
      });
    });

    it('rejects malformed percent-encoding and encoded lone surrogates with 400', async () => {
      for (const bad of ['%E0%A4%A', '%ED%A0%80', 'gpt%']) {
        const res = await fetch(`${gw.url}/v1/models/${bad}`);
        assert.equal(res.status, 400, bad);
        const body = (await res.json()) as { error: { code: string; param: string } };
        assert.equal(body.error.code, 'invalid_request');
        assert.equal(body.error.param, 'model');
      }
    });
  });

  describe('POST /v1/messages/count_tokens', () => {
    const conversation = {
      system: 'You answer in one sentence.',
      messages: [
        { role: 'user' as const, content: 'What is the capital of France?' },
        { role: 'assistant' as const, content: 'Paris.' },
        { role: 'user' as const, content: 'And of Italy?' },
      ],
    };

    it('forwards an Anthropic model to the Anthropic upstream, whose count matches the call it bills', async () => {
      mock.reset();
      const { data, response } = await anthropic.messages
        .countTokens({ model: 'claude-sonnet-4-5', ...conversation })
        .withResponse();
      assert.equal(response.headers.get('x-sluice-token-count'), 'upstream');
      assert.ok(mock.received.some((r) => r.path === '/v1/messages/count_tokens'));
      const message = await anthropic.messages.create({
        model: 'claude-sonnet-4-5',
        max_tokens: 32,
        ...conversation,
      });
      const u = message.usage;
      const billed = u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
      assert.equal(data.input_tokens, billed);
    });

    it('counts an OpenAI model locally with its exact tokenizer', async () => {
      mock.reset();
      const user = { role: 'user' as const, content: 'Count these words exactly, please.' };
      const { data, response } = await anthropic.messages
        .countTokens({ model: 'gpt-4o', messages: [user] })
        .withResponse();
      assert.equal(response.headers.get('x-sluice-token-count'), 'exact');
      assert.equal(mock.received.length, 0, 'no upstream call');
      // The simulated upstream frames chat prompts as OpenAI's cookbook does.
      const chat = await openai.chat.completions.create({ model: 'gpt-4o', messages: [user] });
      assert.equal(data.input_tokens, chat.usage?.prompt_tokens);
    });

    it('validates the body with Anthropic-shaped 400s', async () => {
      for (const [body, param] of [
        [{ messages: conversation.messages }, 'model'],
        [{ model: 'claude-sonnet-4-5' }, 'messages'],
        [{ model: 'claude-sonnet-4-5', messages: [{ role: 'robot', content: 'hi' }] }, 'messages.0.role'],
      ] as const) {
        await assert.rejects(
          anthropic.messages.countTokens(body as unknown as Anthropic.MessageCountTokensParams),
          (e: unknown) => {
            assert.ok(e instanceof Anthropic.BadRequestError);
            const error = (e.error as { type: string; error: { type: string; message: string } }).error;
            assert.equal(error.type, 'invalid_request_error');
            assert.ok(error.message.startsWith(param), error.message);
            return true;
          },
        );
      }
      const plain = await fetch(`${gw.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', ...conversation }),
      });
      assert.equal(plain.status, 415);
      assert.equal(((await plain.json()) as { type: string }).type, 'error');
    });

    it('admits callers as the pipeline does: a virtual key is required once keys exist', async () => {
      const keyed = await startGateway(simulatedUpstreams(mock.url));
      try {
        const created = (await (
          await fetch(`${keyed.url}/admin/keys`, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ user: 'counter' }),
          })
        ).json()) as { key: string };
        const body = { model: 'claude-sonnet-4-5', ...conversation };
        const stranger = new Anthropic({ baseURL: keyed.url, apiKey: 'not-a-key', maxRetries: 0 });
        await assert.rejects(
          stranger.messages.countTokens(body),
          (e: unknown) => e instanceof Anthropic.AuthenticationError,
        );
        const member = new Anthropic({ baseURL: keyed.url, apiKey: created.key, maxRetries: 0 });
        assert.ok((await member.messages.countTokens(body)).input_tokens > 0);
      } finally {
        await keyed.close();
      }
    });

    it('answers the flagged local estimate when no Anthropic upstream can count', async () => {
      const dead = await closedPort();
      const body = { model: 'claude-sonnet-4-5', ...conversation };
      const expected = countChatTokens('anthropic', body).tokens;
      for (const baseUrl of [`http://127.0.0.1:${dead}/v1`, `${mock.url}/no-such-prefix/v1`]) {
        const lonely = await startGateway([
          { name: 'claude', kind: 'anthropic', baseUrl, models: ['claude-*'] } as Config['upstreams'][number],
        ]);
        try {
          const client = new Anthropic({ baseURL: lonely.url, apiKey: 'unused', maxRetries: 0 });
          const { data, response } = await client.messages.countTokens(body).withResponse();
          assert.equal(response.headers.get('x-sluice-token-count'), 'estimated', baseUrl);
          assert.equal(data.input_tokens, expected);
        } finally {
          await lonely.close();
        }
      }
    });
  });

  describe('POST /v1/completions (legacy)', () => {
    const params = {
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'Write a tagline for an ice cream shop.',
      max_tokens: 24,
      temperature: 0,
    };

    it('passes through to the OpenAI upstream, uncached, and bills the provider’s usage', async () => {
      const user = `completions-${Date.now()}`;
      const { data, response } = await openai.completions
        .create(params, { headers: { 'x-sluice-user': user } })
        .withResponse();
      assert.equal(data.object, 'text_completion');
      assert.equal(data.choices.length, 1);
      assert.ok(data.choices[0].text.length > 0);
      assert.ok(data.usage && data.usage.prompt_tokens > 0 && data.usage.completion_tokens > 0);
      assert.equal(response.headers.get('x-sluice-cache'), 'bypass');
      assert.equal(response.headers.get('x-sluice-cache-reason'), 'legacy-completions');
      assert.ok(Number(response.headers.get('x-sluice-cost-usd')) > 0);

      const stream = await openai.completions.create(
        { ...params, stream: true },
        { headers: { 'x-sluice-user': user } },
      );
      let text = '';
      let chunks = 0;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'text_completion');
        assert.ok(chunk.choices.length > 0, 'the usage chunk the gateway asked for is not relayed');
        text += chunk.choices[0].text;
        chunks++;
      }
      assert.ok(chunks > 1);
      assert.equal(text, data.choices[0].text, 'the same prompt gets the same reply streamed');

      const report = (await (
        await fetch(`${gw.url}/admin/usage?user=${user}&days=1`, {
          headers: { authorization: `Bearer ${ADMIN}` },
        })
      ).json()) as {
        totals: { requests: number; cost_usd: number; tokens: { input: number; output: number } };
        estimated_usage_requests?: number;
      };
      assert.equal(report.totals.requests, 2);
      assert.equal(report.totals.tokens.input, 2 * data.usage.prompt_tokens);
      assert.equal(report.totals.tokens.output, 2 * data.usage.completion_tokens);
      // $1.50 / $2.00 per million input / output tokens.
      const expected = (2 * (data.usage.prompt_tokens * 1.5 + data.usage.completion_tokens * 2)) / 1e6;
      assert.ok(
        Math.abs(report.totals.cost_usd - expected) < 1e-9,
        `${report.totals.cost_usd} vs ${expected}`,
      );
    });

    it('streams the usage chunk to a client that asks for it, and takes several prompts', async () => {
      const stream = await openai.completions.create({
        ...params,
        prompt: ['First prompt.', 'Second prompt.'],
        stream: true,
        stream_options: { include_usage: true },
      });
      let usage: OpenAI.CompletionUsage | undefined | null;
      const indexes = new Set<number>();
      for await (const chunk of stream) {
        for (const c of chunk.choices) indexes.add(c.index);
        if (chunk.usage) usage = chunk.usage;
      }
      assert.deepEqual([...indexes].sort(), [0, 1]);
      assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    });

    it('caps a budgeted request with max_tokens, the only cap legacy completions know', async () => {
      const budgeted = await startGateway(simulatedUpstreams(mock.url), {
        cost: { budgets: { users: { thrifty: { dailyUsd: 1 } } } },
      });
      try {
        mock.reset();
        const client = new OpenAI({ baseURL: `${budgeted.url}/v1`, apiKey: 'unused', maxRetries: 0 });
        const { max_tokens: _, ...uncapped } = params;
        const answer = await client.completions.create(uncapped, { headers: { 'x-sluice-user': 'thrifty' } });
        assert.equal(answer.object, 'text_completion');
        const sent = mock.received.at(-1)?.body as Record<string, unknown>;
        assert.equal(sent.max_completion_tokens, undefined);
        assert.equal(typeof sent.max_tokens, 'number');
      } finally {
        await budgeted.close();
      }
    });

    it('validates the body (model and prompt required) with OpenAI-shaped 400s', async () => {
      await assert.rejects(
        openai.completions.create({
          model: 'gpt-3.5-turbo-instruct',
        } as OpenAI.CompletionCreateParamsNonStreaming),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'prompt',
      );
      await assert.rejects(
        openai.completions.create({ prompt: 'hi' } as OpenAI.CompletionCreateParamsNonStreaming),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'model',
      );
    });
  });

  describe('unknown routes and wrong methods', () => {
    it('answers an unknown route in OpenAI shape by default', async () => {
      await assert.rejects(openai.post('/no/such/route', { body: {} }), (e: unknown) => {
        assert.ok(e instanceof OpenAI.NotFoundError);
        assert.equal(e.code, 'not_found');
        return true;
      });
    });

    it('answers in Anthropic shape for anthropic-version or a /v1/messages path', async () => {
      await assert.rejects(anthropic.post('/v1/no/such/route', { body: {} }), (e: unknown) => {
        assert.ok(e instanceof Anthropic.NotFoundError);
        assert.equal((e.error as { error: { type: string } }).error.type, 'not_found_error');
        return true;
      });
      const batches = await fetch(`${gw.url}/v1/messages/batches`, { method: 'POST' });
      assert.equal(batches.status, 404);
      assert.equal(((await batches.json()) as { type: string }).type, 'error');
    });

    it('answers a wrong method 405 with an Allow header naming the methods that work', async () => {
      const cases: Array<[string, string, string, 'openai' | 'anthropic']> = [
        ['GET', '/v1/chat/completions', 'POST', 'openai'],
        ['GET', '/v1/completions', 'POST', 'openai'],
        ['DELETE', '/v1/models', 'GET', 'openai'],
        ['PUT', `/v1/models/${encodeURIComponent(FINE_TUNED)}`, 'GET', 'openai'],
        ['GET', '/v1/messages/count_tokens', 'POST', 'anthropic'],
        ['PUT', '/admin/keys', 'DELETE, GET, POST', 'openai'],
      ];
      for (const [method, path, allow, dialect] of cases) {
        const res = await fetch(`${gw.url}${path}`, { method });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
        const body = (await res.json()) as { type?: string; error: { message: string } };
        assert.equal(body.type === 'error', dialect === 'anthropic', `${method} ${path} shape`);
        assert.match(body.error.message, new RegExp(`use ${allow}`));
      }
    });
  });
});
