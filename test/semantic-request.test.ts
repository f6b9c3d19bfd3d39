import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastUserText, semanticPartition, semanticRequest } from '../src/cache/semantic/request.js';

const openaiBody = (messages: unknown[], extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages,
  ...extra,
});

describe('lastUserText', () => {
  it('takes the last user turn of an OpenAI chat body (string or text parts)', () => {
    const body = openaiBody([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is the capital' },
          { type: 'text', text: 'of France?' },
        ],
      },
    ]);
    assert.equal(lastUserText('openai', body), 'What is the capital\nof France?');
  });

  it('takes the last user turn of an Anthropic messages body', () => {
    const body = {
      model: 'claude-3-5-haiku-latest',
      system: 'Be brief.',
      max_tokens: 100,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Explain HNSW.' }] }],
    };
    assert.equal(lastUserText('anthropic', body), 'Explain HNSW.');
  });

  it('refuses requests whose last turn is not a user turn or has no text', () => {
    assert.equal(lastUserText('openai', openaiBody([{ role: 'assistant', content: 'prefill' }])), undefined);
    assert.equal(lastUserText('openai', openaiBody([{ role: 'user', content: '   ' }])), undefined);
    assert.equal(lastUserText('openai', openaiBody([])), undefined);
    assert.equal(lastUserText('openai', { model: 'x' }), undefined);
  });

  it('skips tool results unless allowed', () => {
    const openai = openaiBody([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 't1', type: 'function', function: { name: 'w' } }],
      },
      { role: 'tool', tool_call_id: 't1', content: '18C' },
      { role: 'user', content: 'And tomorrow?' },
    ]);
    assert.equal(lastUserText('openai', openai), undefined);
    assert.equal(lastUserText('openai', openai, { allowToolResults: true }), 'And tomorrow?');

    const anthropic = {
      model: 'claude',
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'w', input: {} }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't1', content: '18C' },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
    };
    assert.equal(lastUserText('anthropic', anthropic), undefined);
    assert.equal(lastUserText('anthropic', anthropic, { allowToolResults: true }), 'Summarise.');
  });

  it('skips images unless allowed, and then keeps the image in the exact part', () => {
    const withImage = (url: string) =>
      openaiBody([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in this picture?' },
            { type: 'image_url', image_url: { url } },
          ],
        },
      ]);
    assert.equal(lastUserText('openai', withImage('https://x/a.png')), undefined);
    const a = semanticRequest('openai', withImage('https://x/a.png'), { allowImages: true });
    const b = semanticRequest('openai', withImage('https://x/b.png'), { allowImages: true });
    assert.equal(a?.text, 'What is in this picture?');
    assert.notEqual(semanticPartition([a?.context]), semanticPartition([b?.context]));
  });
});

describe('semanticPartition', () => {
  const partitionOf = (body: Record<string, unknown>, dialect: 'openai' | 'anthropic' = 'openai') => {
    const request = semanticRequest(dialect, body);
    assert.ok(request);
    return semanticPartition(['user-1', body.model, request.context]);
  };
  const base = openaiBody(
    [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Capital of France?' },
    ],
    { temperature: 0 },
  );

  it('does not depend on the wording of the last turn, field order, or stream/user fields', () => {
    const reworded = openaiBody(
      [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: "What's the capital of France?" },
      ],
      { temperature: 0 },
    );
    const reordered = {
      temperature: 0,
      messages: base.messages,
      model: base.model,
      stream: true,
      user: 'u9',
    };
    assert.equal(partitionOf(base), partitionOf(reworded));
    assert.equal(partitionOf(base), partitionOf(reordered));
  });

  it('changes with anything else that can change the answer', () => {
    const variants = [
      { ...base, model: 'gpt-4o' },
      { ...base, temperature: 0.7 },
      { ...base, max_tokens: 5 },
      { ...base, tools: [{ type: 'function', function: { name: 'f' } }] },
      { ...base, response_format: { type: 'json_object' } },
      { ...base, messages: [{ role: 'system', content: 'You are verbose.' }, base.messages[1]] },
      { ...base, messages: [base.messages[0], { role: 'user', content: 'Hi' }, base.messages[1]] },
    ];
    const seen = new Set([partitionOf(base)]);
    for (const variant of variants) seen.add(partitionOf(variant));
    assert.equal(seen.size, variants.length + 1);
  });

  it('keeps scope parts apart and is prefix-free', () => {
    assert.notEqual(semanticPartition(['ab', 'c']), semanticPartition(['a', 'bc']));
    assert.notEqual(semanticPartition(['user-1', 'm']), semanticPartition(['user-2', 'm']));
  });
});
