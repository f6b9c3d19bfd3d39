import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ChatCompletionCreateParamsBase } from 'openai/resources/chat/completions/completions';
import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import type { ResponseCreateParamsBase } from 'openai/resources/responses/responses';
import { cacheConfigSchema } from '../src/cache/config.js';
import { canonicalKey, exactKeyPrefix, modelOfKey, scopeOf } from '../src/cache/key.js';
import { cacheDirectives, isCacheable } from '../src/cache/policy.js';
import {
  ANTHROPIC_MESSAGES_KEYED,
  type AnthropicMessagesField,
  OPENAI_CHAT_KEYED,
  OPENAI_EMBEDDINGS_KEYED,
  OPENAI_RESPONSES_KEYED,
  type OpenAIChatField,
  type OpenAIEmbeddingsField,
  type OpenAIResponsesField,
} from '../src/dialect/request-fields.js';
import { isSluiceError } from '../src/errors.js';

// Compile-time: every request field of the official SDKs is decided in our tables. A new SDK
// field makes `tsc` fail here until request-fields.ts says whether it changes the answer.
type Covers<Ours, Theirs> = [Exclude<Theirs, Ours>] extends [never] ? true : Exclude<Theirs, Ours>;
const openaiCovered: Covers<OpenAIChatField, keyof ChatCompletionCreateParamsBase> = true;
const anthropicCovered: Covers<AnthropicMessagesField, keyof MessageCreateParamsBase> = true;
const embeddingsCovered: Covers<OpenAIEmbeddingsField, keyof EmbeddingCreateParams> = true;
const responsesCovered: Covers<OpenAIResponsesField, keyof ResponseCreateParamsBase> = true;

const key = (body: Record<string, unknown>, over: Partial<Parameters<typeof canonicalKey>[0]> = {}) =>
  canonicalKey({ dialect: 'openai', route: 'chat', scope: 't:blue', body, ...over });

/** Two different values for a field, so changing it must change the key. */
const SAMPLE: Record<string, [unknown, unknown]> = {
  messages: [[{ role: 'user', content: 'a' }], [{ role: 'user', content: 'b' }]],
  model: ['m1', 'm2'],
  input: ['a', ['a']],
  system: ['be brief', [{ type: 'text', text: 'be brief' }]],
  thinking: [{ type: 'disabled' }, { type: 'enabled', budget_tokens: 1024 }],
  stop: ['x', ['x', 'y']],
  stop_sequences: [['x'], ['y']],
};
const sample = (field: string): [unknown, unknown] => SAMPLE[field] ?? [1, { v: 2 }];

describe('cache key', () => {
  it('covers the SDKs request fields (checked at compile time)', () => {
    assert.deepEqual(
      [openaiCovered, anthropicCovered, embeddingsCovered, responsesCovered],
      [true, true, true, true],
    );
  });

  const tables = [
    ['openai chat', 'openai', 'chat', OPENAI_CHAT_KEYED],
    ['anthropic messages', 'anthropic', 'messages', ANTHROPIC_MESSAGES_KEYED],
    ['openai embeddings', 'openai', 'embeddings', OPENAI_EMBEDDINGS_KEYED],
    ['openai responses', 'responses', 'responses', OPENAI_RESPONSES_KEYED],
  ] as const;
  for (const [name, dialect, route, table] of tables) {
    it(`${name}: every keyed field changes the key, every other field does not`, () => {
      const base = { model: 'm0', messages: [{ role: 'user', content: 'hi' }] };
      for (const [field, keyed] of Object.entries(table)) {
        const [one, two] = sample(field);
        const a = key({ ...base, [field]: one }, { dialect, route });
        const b = key({ ...base, [field]: two }, { dialect, route });
        if (keyed) assert.notEqual(a, b, `${field} must change the key`);
        else {
          assert.equal(a, b, `${field} must not change the key`);
          assert.equal(a, key(base, { dialect, route }), `${field} present or absent is the same entry`);
        }
      }
    });
  }

  it('keys unknown (provider-specific) fields, to be safe', () => {
    const base = { model: 'm', messages: [] };
    assert.notEqual(key({ ...base, repetition_penalty: 1.1 }), key({ ...base, repetition_penalty: 1.2 }));
  });

  it('separates scopes, dialects and routes', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
    const keys = new Set([
      key(body),
      key(body, { scope: 't:red' }),
      key(body, { scope: 'shared' }),
      key(body, { dialect: 'anthropic', route: 'messages' }),
      key(body, { route: 'embeddings' }),
    ]);
    assert.equal(keys.size, 5);
  });

  it('is independent of top-level field order, null means absent, stream flags are ignored', () => {
    const a = key({ model: 'm', temperature: 0, messages: [] });
    assert.equal(a, key({ messages: [], temperature: 0, model: 'm' }));
    assert.equal(a, key({ model: 'm', temperature: 0, messages: [], seed: null }));
    assert.equal(
      a,
      key({
        model: 'm',
        temperature: 0,
        messages: [],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    assert.notEqual(a, key({ model: 'm', temperature: 0, messages: [], seed: 0 }));
  });

  it('cannot be forged by moving text across field boundaries', () => {
    // Without separators `{"a":"x"}` + `b` could hash like `{"a":"xb"}`; the \0 framing prevents it.
    assert.notEqual(
      key({ model: 'm', messages: 'ab', stop: 'c' }),
      key({ model: 'm', messages: 'a', stop: 'bc' }),
    );
  });

  it('puts scope and model in the storage key so purges can find them', () => {
    const scope = scopeOf('user', { user: 'ann', team: 'x:y/z' });
    const k = key({ model: 'gpt:4/o', messages: [] }, { scope });
    assert.ok(k.startsWith(exactKeyPrefix(scope)));
    assert.ok(k.startsWith(exactKeyPrefix(scope, 'gpt:4/o')));
    assert.ok(!k.startsWith(exactKeyPrefix(scope, 'gpt')));
    assert.equal(modelOfKey(k), 'gpt:4/o');
    assert.equal(k.split(':').length, 4, 'kind, scope, model, hash: the `:` inside names are escaped');
  });

  it('field names are framed too: a name holding NUL and JSON cannot pose as two fields', () => {
    assert.notEqual(key({ model: 'm', x: 1, y: 2 }), key({ model: 'm', 'x\u00001\u0000y': 2 }));
  });

  it('scopes by team, key, user or nobody', () => {
    const withTeam = { user: 'ann', team: 'blue', keyId: 'k1' };
    const noTeam = { user: 'ann', keyId: 'k1' };
    const bare = { user: 'ann' };
    // Plain names keep their readable scope strings.
    assert.equal(scopeOf('team', withTeam), 't:blue');
    assert.equal(scopeOf('team', noTeam), 'k:k1');
    assert.equal(scopeOf('team', bare), 'u:ann');
    assert.equal(scopeOf('key', withTeam), 'k:k1');
    assert.equal(scopeOf('key', bare), 'u:ann');
    assert.equal(scopeOf('user', withTeam), 'u:t:blue:ann');
    assert.equal(scopeOf('user', noTeam), 'u:k:k1:ann');
    assert.notEqual(scopeOf('user', { user: 'ann', team: 'red' }), scopeOf('user', withTeam));
    assert.equal(scopeOf('shared', withTeam), 'shared');
    assert.notEqual(scopeOf('team', { user: 'blue' }), scopeOf('team', { user: 'x', team: 'blue' }));
  });
});

describe('cache policy', () => {
  const config = cacheConfigSchema.parse({});

  it('parses {} to the documented defaults', () => {
    assert.deepEqual(config, {
      enabled: true,
      scope: 'team',
      ttlSeconds: 3600,
      maxEntries: 10_000,
      maxBytes: 256 * 1024 * 1024,
      deterministicOnly: true,
      maxTemperature: 0.1,
      cacheNGreaterThanOne: false,
      embeddings: true,
      singleFlight: true,
      flightLeaseMs: 5_000,
    });
  });

  it('caches only (near-)deterministic requests by default', () => {
    const ok = (body: Record<string, unknown>, c = config) => isCacheable('chat', body, c).ok;
    assert.equal(ok({ temperature: 0 }), true);
    assert.equal(ok({ temperature: 0.1 }), true);
    assert.equal(ok({ temperature: 0.2 }), false);
    assert.equal(ok({}), false, 'absent temperature is the provider default, 1.0');
    assert.equal(ok({ temperature: 0.7, seed: 42 }), true);
    assert.equal(ok({ temperature: 0, n: 2 }), false);
    assert.equal(ok({ temperature: 0, n: 2 }, { ...config, cacheNGreaterThanOne: true }), true);
    assert.equal(ok({ temperature: 1 }, { ...config, deterministicOnly: false }), true);
    assert.equal(ok({ temperature: 0 }, { ...config, enabled: false }), false);
    assert.equal(isCacheable('embeddings', { input: 'x' }, config).ok, true);
  });

  it('reads cache-control and x-sluice-cache-ttl', () => {
    assert.deepEqual(cacheDirectives({}), { noCache: false, noStore: false });
    assert.deepEqual(cacheDirectives({ 'cache-control': 'No-Cache' }), { noCache: true, noStore: false });
    assert.deepEqual(cacheDirectives({ 'cache-control': 'max-age=0, no-store' }), {
      noCache: false,
      noStore: true,
    });
    assert.deepEqual(cacheDirectives({ 'x-sluice-cache-ttl': '60' }), {
      noCache: false,
      noStore: false,
      ttlSeconds: 60,
    });
    assert.throws(
      () => cacheDirectives({ 'x-sluice-cache-ttl': '1.5h' }),
      (e) => isSluiceError(e) && e.status === 400,
    );
  });
});
