/**
 * The shapes main added (the Responses API, legacy completions, count_tokens, new error codes)
 * as members of the dialect registry: each read through `DIALECTS`, not a branch elsewhere.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalKey } from '../src/cache/key.js';
import { DIALECTS, ROUTE_DIALECT, routeSpec } from '../src/dialect/index.js';
import { LazyEvent } from '../src/dialect/sse.js';
import { validateBody, validateCountTokensBody } from '../src/dialect/validate.js';
import { SluiceError } from '../src/errors.js';

const event = (type: string, payload: Record<string, unknown>) =>
  LazyEvent.from({ event: type, data: JSON.stringify({ type, ...payload }) });

describe('dialect registry: responses, completions, count_tokens', () => {
  it('routes map to their dialects; completions belong to openai and have no cache-key table', () => {
    assert.equal(ROUTE_DIALECT.completions, 'openai');
    assert.equal(ROUTE_DIALECT.responses, 'responses');
    assert.equal(routeSpec('completions').keyedFields, undefined);
    assert.ok(routeSpec('responses').keyedFields?.input);
    assert.throws(
      () =>
        canonicalKey({
          dialect: 'openai',
          route: 'completions',
          scope: 's',
          body: { model: 'm', prompt: 'hi' },
        }),
      /never cached/,
    );
  });

  it('Responses usage: input_tokens include cached ones, reasoning is part of output', () => {
    const usage = DIALECTS.responses.usage({
      input_tokens: 1000,
      input_tokens_details: { cached_tokens: 600 },
      output_tokens: 50,
      output_tokens_details: { reasoning_tokens: 20 },
      total_tokens: 1050,
    });
    assert.deepEqual(usage, {
      inputTokens: 400,
      cacheReadTokens: 600,
      cacheWriteTokens: 0,
      outputTokens: 50,
      reasoningTokens: 20,
    });
    assert.ok(usage);
    const wire = DIALECTS.responses.usageToWire(usage);
    assert.deepEqual(DIALECTS.responses.usage(wire), usage, 'usage survives the round trip');
  });

  it('Responses streams: usage from the closing event, text from delta events', () => {
    const spec = DIALECTS.responses;
    const delta = event('response.output_text.delta', { delta: 'Hello' });
    assert.equal(spec.streamText(delta), 'Hello');
    assert.equal(spec.streamUsage(delta), undefined);
    const done = event('response.completed', {
      response: { object: 'response', status: 'completed', usage: { input_tokens: 3, output_tokens: 2 } },
    });
    assert.deepEqual(spec.streamUsage(done), { raw: { input_tokens: 3, output_tokens: 2 }, merge: false });
  });

  it('Responses replies: text of messages and function calls; completeness; the cap has a minimum of 16', () => {
    const spec = DIALECTS.responses;
    const reply = {
      object: 'response',
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      output: [
        { type: 'message', content: [{ type: 'output_text', text: 'Hi. ' }] },
        { type: 'function_call', name: 'lookup', arguments: '{"q":1}' },
      ],
    };
    assert.equal(spec.replyText(reply), 'Hi. lookup{"q":1}');
    assert.deepEqual(spec.finishReasons(reply), ['max_output_tokens']);
    assert.ok(spec.isCompleteReply('responses', reply));
    assert.equal(spec.maxOutputTokens(spec.withMaxOutputTokens({ model: 'm' }, 4)), 16);
  });

  it('legacy completions: choices[].text is reply text, in JSON and in streams', () => {
    const spec = DIALECTS.openai;
    assert.equal(
      spec.replyText({ object: 'text_completion', choices: [{ text: 'once upon' }] }),
      'once upon',
    );
    const chunk = LazyEvent.from({ data: JSON.stringify({ choices: [{ index: 0, text: ' a time' }] }) });
    assert.equal(spec.streamText(chunk), ' a time');
    assert.ok(
      spec.isCompleteReply('completions', {
        object: 'text_completion',
        choices: [{ finish_reason: 'stop' }],
      }),
    );
    assert.doesNotThrow(() => validateBody('completions', { model: 'm', prompt: ['a', 'b'], logprobs: 5 }));
    assert.throws(() => validateBody('completions', { model: 'm', prompt: 'a', logprobs: 9 }), /logprobs/);
  });

  it('count_tokens: the messages body without max_tokens; n still refused', () => {
    const body = { model: 'claude-x', messages: [{ role: 'user', content: 'hi' }] };
    assert.deepEqual(validateCountTokensBody(body), body);
    assert.throws(() => validateBody('messages', body), /max_tokens/);
    assert.throws(() => validateCountTokensBody({ ...body, n: 2 }), /n: not supported/);
  });

  it('new error codes have a type in every dialect; the Responses error event is typed', () => {
    const e = new SluiceError('circuit_open', 'no upstream available');
    assert.equal(DIALECTS.openai.errorTypes.circuit_open, 'service_unavailable');
    assert.equal(DIALECTS.anthropic.errorTypes.store_unavailable, 'api_error');
    const text = DIALECTS.responses.errorEvent(e);
    assert.match(text, /^event: error\ndata: /);
    const data = JSON.parse(text.slice(text.indexOf('data: ') + 6));
    assert.equal(data.type, 'error');
    assert.equal(data.code, 'circuit_open');
    assert.equal(data.error.type, 'service_unavailable');
  });
});
