import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { LedgerRow } from '../src/cost/ledger.js';
import { startTestGateway, type TestGateway } from './helpers.js';

/**
 * Issue 13 point 2: `x-sluice-cost-usd` tells the whole cost of a request, side calls made for
 * it (the compression summary, semantic-cache embeddings) included; the ledger keeps each side
 * call's own row and breaks the sum out on the parent's row (`sideCostUsd`).
 */
type Message = { role: 'user' | 'assistant'; content: string };

/** A 64-message conversation long enough to be compressed. */
function longHistory(topic: string): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 64; i++) {
    const role = i % 2 === 0 ? 'user' : 'assistant';
    out.push({
      role,
      content: `${topic} turn ${i}: ${'the river carries silt to the delta and the farmers plant rice '.repeat(3)}`,
    });
  }
  out[out.length - 1] = { role: 'user', content: `${topic}: so what happens next?` };
  return out;
}

const nano = (usd: number | null | undefined): number => Math.round((usd ?? 0) * 1e9);

/** The OpenAI SDK's fetch, keeping a copy of every response's raw text. */
function recordingFetch(raw: string[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    const [forClient, forTest] = res.body.tee();
    raw.push('');
    const index = raw.length - 1;
    void new Response(forTest).text().then((text) => {
      raw[index] = text;
    });
    return new Response(forClient, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

describe('cost of side calls', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ tokens: { compression: { enabled: true, thresholdTokens: 1200 } } });
  });
  after(() => gw.close());

  async function rowsOf(requestId: string | null): Promise<{ main: LedgerRow; summary: LedgerRow }> {
    const ledger = gw.sluice.gateway.economy.ledger;
    await ledger.idle();
    const rows = await ledger.query({ since: 0 });
    const main = rows.find((r) => r.requestId === requestId);
    assert.ok(main, 'the request has its row');
    // The summary rows written during this request: the ones started after it, before its end.
    const summaries = rows.filter(
      (r) => r.purpose === 'summary' && r.ts >= main.ts && r.ts <= main.ts + main.latencyMs,
    );
    assert.equal(summaries.length, 1, 'one summary call for the request');
    return { main, summary: summaries[0]! };
  }

  it('JSON: the header is the main call plus the summary call, the parent row says the side cost', async () => {
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: longHistory(`json ${Math.random()}`) })
      .withResponse();
    assert.ok(data.choices[0]?.message.content);
    assert.ok(response.headers.get('x-sluice-compression'), 'the history was compressed');
    const { main, summary } = await rowsOf(response.headers.get('x-request-id'));
    assert.equal(summary.model, 'gpt-4o-mini');
    assert.ok(nano(summary.costUsd) > 0 && nano(main.costUsd) > 0);
    assert.equal(nano(main.sideCostUsd), nano(summary.costUsd), 'parent row: side cost = the summary row');
    const header = Number(response.headers.get('x-sluice-cost-usd'));
    assert.equal(nano(header), nano(main.costUsd) + nano(summary.costUsd), 'header: main + summary');
    assert.ok(header > (main.costUsd ?? 0), 'the header no longer under-reports');
  });

  it('stream: ends with a cost comment before [DONE], which the OpenAI SDK ignores', async () => {
    const raw: string[] = [];
    const client = new OpenAI({ baseURL: gw.v1, apiKey: 'x', maxRetries: 0, fetch: recordingFetch(raw) });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: longHistory(`stream ${Math.random()}`), stream: true })
      .withResponse();
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.ok(text.length > 0, 'the SDK parsed the content');
    assert.equal(finish, 'stop');
    await new Promise((r) => setImmediate(r));
    const body = raw.at(-1) ?? '';
    const match = /\n: x-sluice-cost-usd=([0-9.e-]+)\n\ndata: \[DONE\]\n\n$/.exec(body);
    assert.ok(match, `the stream ends with the cost comment, then [DONE]: ${body.slice(-200)}`);
    const { main, summary } = await rowsOf(response.headers.get('x-request-id'));
    assert.ok(nano(main.costUsd) > 0);
    assert.equal(nano(main.sideCostUsd), nano(summary.costUsd));
    assert.equal(
      nano(Number(match[1])),
      nano(main.costUsd) + nano(summary.costUsd),
      'comment: main + summary',
    );
  });

  it('Anthropic stream: the cost comment comes before message_stop and the SDK still parses it', async () => {
    const raw: string[] = [];
    const client = new Anthropic({ baseURL: gw.url, apiKey: 'x', maxRetries: 0, fetch: recordingFetch(raw) });
    const stream = client.messages.stream({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: `short ${Math.random()}` }],
    });
    const message = await stream.finalMessage();
    assert.equal(message.stop_reason, 'end_turn');
    await new Promise((r) => setImmediate(r));
    const body = raw.at(-1) ?? '';
    const match = /\n: x-sluice-cost-usd=([0-9.e-]+)\n\nevent: message_stop\n/.exec(body);
    assert.ok(match, `cost comment before message_stop: ${body.slice(-200)}`);
    const ledger = gw.sluice.gateway.economy.ledger;
    await ledger.idle();
    const rows = await ledger.query({ since: 0 });
    const row = rows.find((r) => r.route === 'messages' && r.stream);
    assert.ok(row && nano(row.costUsd) > 0);
    assert.equal(nano(Number(match[1])), nano(row.costUsd));
  });
});
