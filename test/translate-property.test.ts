import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { chatToMessagesRequest, messagesToChatRequest } from '../src/dialect/translate/index.js';
import { isSluiceError } from '../src/errors.js';
import { validateAnthropicMessages } from '../src/mock/anthropic-messages.js';
import { validateOpenAIChat } from '../src/mock/openai-chat.js';
import { validateBody } from '../src/dialect/validate.js';

type Json = Record<string, unknown>;

/** Optional fields: absent, or one of the given arbitrary's values. */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
const text = fc.string({ minLength: 0, maxLength: 12 });
const id = fc.stringMatching(/^[a-z]{3,8}_[A-Za-z0-9]{4}$/);
const args = fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.oneof(fc.integer(), text), { maxKeys: 3 });
const schema = fc.constantFrom(
  { type: 'object' },
  { type: 'object', properties: { city: { type: 'string' } } },
);
const toolName = fc.constantFrom('get_weather', 'lookup', 'search');

/** Drop the keys whose value is undefined (as JSON would). */
const compact = (o: Json): Json => JSON.parse(JSON.stringify(o)) as Json;

// ---------------------------------------------------------------- OpenAI chat requests

const openaiPart = fc.oneof(
  text.map((t) => ({ type: 'text', text: t })),
  fc.constantFrom('image/png', 'image/jpeg', 'image/gif', 'image/webp').map((m) => ({
    type: 'image_url',
    image_url: { url: `data:${m};base64,AAAA` },
  })),
  fc.webUrl().map((url) => ({ type: 'image_url', image_url: { url } })),
);
const openaiUser = fc.record({
  role: fc.constant('user'),
  content: fc.oneof(text, fc.array(openaiPart, { minLength: 1, maxLength: 3 })),
});
const openaiToolExchange = fc
  .array(fc.tuple(id, toolName, args, text), { minLength: 1, maxLength: 3 })
  .map((calls) => [
    {
      role: 'assistant',
      content: null,
      tool_calls: calls.map(([callId, name, a]) => ({
        id: callId,
        type: 'function',
        function: { name, arguments: JSON.stringify(a) },
      })),
    },
    ...calls.map(([callId, , , result]) => ({ role: 'tool', tool_call_id: callId, content: result })),
  ]);
const openaiTurn = fc.oneof(
  openaiUser.map((u) => [u]),
  fc.tuple(openaiUser, text).map(([u, answer]) => [u, { role: 'assistant', content: answer }]),
  fc.tuple(openaiUser, openaiToolExchange).map(([u, exchange]) => [u, ...exchange]),
);

const openaiRequest = fc
  .record({
    system: maybe(fc.tuple(fc.constantFrom('system', 'developer'), text)),
    turns: fc.array(openaiTurn, { minLength: 1, maxLength: 4 }),
    max_tokens: maybe(fc.integer({ min: 1, max: 100_000 })),
    max_completion_tokens: maybe(fc.integer({ min: 1, max: 100_000 })),
    temperature: maybe(fc.double({ min: 0, max: 2, noNaN: true })),
    top_p: maybe(fc.double({ min: 0, max: 1, noNaN: true })),
    stop: maybe(fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 4 }))),
    user: maybe(text),
    stream: maybe(fc.boolean()),
    include_usage: maybe(fc.boolean()),
    tools: maybe(fc.array(fc.tuple(toolName, schema), { minLength: 1, maxLength: 3 })),
    tool_choice: maybe(fc.constantFrom('auto', 'none', 'required')),
    parallel_tool_calls: maybe(fc.boolean()),
    reasoning_effort: maybe(fc.constantFrom('none', 'minimal', 'low', 'medium', 'high')),
    response_format: maybe(
      fc.constantFrom(
        { type: 'text' },
        { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object' } } },
        { type: 'json_object' },
      ),
    ),
    n: maybe(fc.integer({ min: 1, max: 3 })),
    seed: maybe(fc.integer()),
  })
  .map((r) =>
    compact({
      model: 'claude-x',
      messages: [...(r.system ? [{ role: r.system[0], content: r.system[1] }] : []), ...r.turns.flat()],
      max_tokens: r.max_tokens,
      max_completion_tokens: r.max_completion_tokens,
      temperature: r.temperature,
      top_p: r.top_p,
      stop: r.stop,
      user: r.user,
      stream: r.stream,
      stream_options:
        r.stream && r.include_usage !== undefined ? { include_usage: r.include_usage } : undefined,
      tools: r.tools?.map(([name, parameters]) => ({ type: 'function', function: { name, parameters } })),
      tool_choice: r.tools ? r.tool_choice : undefined,
      parallel_tool_calls: r.tools ? r.parallel_tool_calls : undefined,
      reasoning_effort: r.reasoning_effort,
      response_format: r.response_format,
      n: r.n,
      seed: r.seed,
    }),
  );

// ---------------------------------------------------------------- Anthropic Messages requests

const anthropicBlock = fc.oneof(
  text.map((t) => ({ type: 'text', text: t })),
  fc
    .constantFrom('image/png', 'image/jpeg')
    .map((m) => ({ type: 'image', source: { type: 'base64', media_type: m, data: 'AAAA' } })),
  fc.webUrl().map((url) => ({ type: 'image', source: { type: 'url', url } })),
  fc.constant({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } }),
);
const anthropicUser = fc.record({
  role: fc.constant('user'),
  content: fc.oneof(text, fc.array(anthropicBlock, { minLength: 1, maxLength: 3 })),
});
const anthropicToolExchange = fc
  .array(fc.tuple(id, toolName, args, text, fc.boolean()), { minLength: 1, maxLength: 3 })
  .map((calls) => [
    {
      role: 'assistant',
      content: calls.map(([callId, name, input]) => ({ type: 'tool_use', id: callId, name, input })),
    },
    {
      role: 'user',
      content: calls.map(([callId, , , result, isError]) => ({
        type: 'tool_result',
        tool_use_id: callId,
        content: result,
        is_error: isError,
      })),
    },
  ]);
const anthropicTurn = fc.oneof(
  anthropicUser.map((u) => [u]),
  fc
    .tuple(anthropicUser, text)
    .map(([u, answer]) => [u, { role: 'assistant', content: [{ type: 'text', text: answer }] }]),
  fc.tuple(anthropicUser, anthropicToolExchange).map(([u, exchange]) => [u, ...exchange]),
);

const anthropicRequest = fc
  .record({
    system: maybe(
      fc.oneof(
        text,
        fc.array(
          text.map((t) => ({ type: 'text', text: t })),
          { minLength: 1, maxLength: 2 },
        ),
      ),
    ),
    turns: fc.array(anthropicTurn, { minLength: 1, maxLength: 4 }),
    max_tokens: fc.integer({ min: 1, max: 100_000 }),
    temperature: maybe(fc.double({ min: 0, max: 1, noNaN: true })),
    top_p: maybe(fc.double({ min: 0, max: 1, noNaN: true })),
    top_k: maybe(fc.integer({ min: 0, max: 500 })),
    stop_sequences: maybe(fc.array(text, { maxLength: 3 })),
    user_id: maybe(text),
    stream: maybe(fc.boolean()),
    tools: maybe(fc.array(fc.tuple(toolName, schema), { minLength: 1, maxLength: 3 })),
    tool_choice: maybe(
      fc.constantFrom({ type: 'auto' }, { type: 'any' }, { type: 'none' }, { type: 'tool', name: 'lookup' }),
    ),
    thinking: maybe(
      fc.oneof(
        fc.integer({ min: 1024, max: 40_000 }).map((b) => ({ type: 'enabled', budget_tokens: b })),
        fc.constant({ type: 'disabled' }),
        fc.constant({ type: 'adaptive' }),
      ),
    ),
  })
  .map((r) =>
    compact({
      model: 'gpt-x',
      system: r.system,
      messages: r.turns.flat(),
      max_tokens: r.max_tokens,
      temperature: r.temperature,
      top_p: r.top_p,
      top_k: r.top_k,
      stop_sequences: r.stop_sequences,
      metadata: r.user_id === undefined ? undefined : { user_id: r.user_id },
      stream: r.stream,
      tools: r.tools?.map(([name, input_schema]) => ({ name, input_schema })),
      tool_choice: r.tools ? r.tool_choice : undefined,
      thinking: r.thinking,
    }),
  );

/**
 * What Anthropic's API enforces beyond the validators: turns alternate, tool results open
 * their user turn and answer a tool_use of the assistant turn just before, a thinking budget
 * sits below max_tokens, temperature is at most 1.
 */
function anthropicInvariants(out: Json): void {
  const turns = out.messages as Array<{ role: string; content: unknown }>;
  turns.forEach((turn, i) => {
    if (i > 0) assert.notEqual(turn.role, turns[i - 1].role, 'turns alternate');
    if (!Array.isArray(turn.content)) return;
    const blocks = turn.content as Json[];
    const results = blocks.filter((b) => b.type === 'tool_result');
    assert.ok(
      blocks.slice(0, results.length).every((b) => b.type === 'tool_result'),
      'tool results come first',
    );
    const previous = turns[i - 1]?.content;
    const uses = new Set(
      Array.isArray(previous)
        ? (previous as Json[]).filter((b) => b.type === 'tool_use').map((b) => b.id)
        : [],
    );
    for (const r of results) assert.ok(uses.has(r.tool_use_id), 'a tool result answers the previous turn');
  });
  const thinking = out.thinking as { type: string; budget_tokens?: number } | undefined;
  if (thinking?.type === 'enabled') {
    assert.ok(
      (thinking.budget_tokens ?? 0) >= 1024 && (thinking.budget_tokens ?? 0) < (out.max_tokens as number),
    );
  }
  if (typeof out.temperature === 'number') assert.ok(out.temperature <= 1);
}

/** What OpenAI enforces: a tool message follows the assistant message whose tool_calls name it. */
function openaiInvariants(out: Json): void {
  const messages = out.messages as Json[];
  let open = new Set<unknown>();
  for (const m of messages) {
    if (m.role === 'tool') {
      assert.ok(open.has(m.tool_call_id), 'a tool message answers the assistant just before');
      continue;
    }
    open = new Set(Array.isArray(m.tool_calls) ? (m.tool_calls as Json[]).map((c) => c.id) : []);
    if (m.role === 'system') assert.equal(messages.indexOf(m), 0, 'the system message comes first');
  }
}

/**
 * The property: a request the edge accepts on one route either translates into one both the
 * edge's and the simulated provider's validators accept for the other route, or is refused
 * with a 400 naming a parameter (never another failure).
 */
function checkTranslation(
  from: 'chat' | 'messages',
  arb: fc.Arbitrary<Json>,
  translate: (body: Json) => Json,
  validateTarget: (body: Json) => unknown,
  invariants: (body: Json) => void,
): { translated: number; refused: number } {
  const tally = { translated: 0, refused: 0 };
  fc.assert(
    fc.property(arb, (body) => {
      validateBody(from, body);
      let out: Json;
      try {
        out = translate(structuredClone(body));
      } catch (e) {
        assert.ok(
          isSluiceError(e) && e.code === 'invalid_request' && typeof e.extra.param === 'string',
          String(e),
        );
        tally.refused++;
        return;
      }
      validateBody(from === 'chat' ? 'messages' : 'chat', out);
      assert.equal(validateTarget(out), undefined);
      invariants(out);
      tally.translated++;
    }),
    { numRuns: 400, seed: 10 },
  );
  return tally;
}

describe('property: valid requests translate into valid requests of the other dialect', () => {
  it('OpenAI chat → Anthropic Messages', () => {
    const tally = checkTranslation(
      'chat',
      openaiRequest,
      (b) => chatToMessagesRequest(b, { defaultMaxTokens: 4096 }),
      validateAnthropicMessages,
      anthropicInvariants,
    );
    // Refusals are legitimate (n > 1, seed, json_object, temperature > 1…) but must not be all there is.
    assert.ok(tally.translated > 100, `translated ${tally.translated}, refused ${tally.refused}`);
  });

  it('Anthropic Messages → OpenAI chat', () => {
    const tally = checkTranslation(
      'messages',
      anthropicRequest,
      messagesToChatRequest,
      validateOpenAIChat,
      openaiInvariants,
    );
    assert.ok(tally.translated > 100, `translated ${tally.translated}, refused ${tally.refused}`);
  });
});
