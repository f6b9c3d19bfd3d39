/**
 * Issue 8.3: one tenant read another's cached answer, because the scope `u:${team}/${user}`
 * of team `a/b` + user `c` equals that of team `a` + user `b/c`. Every key built from several
 * identities now goes through src/store/composite-key.ts; these tests pin the reported case
 * through the real gateway, and check over many adversarial names (seeded, reproducible)
 * that no two distinct identities share a key in any key builder.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { CacheScope } from '../src/cache/config.js';
import { canonicalKey, exactKeyPrefix, modelOfKey, scopeOf } from '../src/cache/key.js';
import { callerPartition } from '../src/cache/semantic/stage.js';
import { type BudgetScopeKind, budgetCounterKey } from '../src/cost/budget.js';
import { PriceBook } from '../src/cost/prices.js';
import { rateLimitRuleSchema } from '../src/flow/config.js';
import { defaultRuleName, rateLimitCounterKey } from '../src/flow/rate-limit.js';
import type { Caller } from '../src/pipeline/types.js';
import { compositeKey, compositeKeyPrefix, decodeCompositeKey, keyPart } from '../src/store/composite-key.js';
import { MemoryKvStore } from '../src/store/memory.js';
import { compressHistory } from '../src/tokens/compress.js';
import { tokensConfigSchema } from '../src/tokens/config.js';
import { startTestGateway, type TestGateway } from './helpers.js';

// ---- a seeded generator of hostile names -------------------------------------------------

/** mulberry32: small, seedable, good enough to spread choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.COMPOSITE_KEYS_SEED ?? 20_251_130);

/**
 * Pieces names are made of: separators old and new, the escape character and things that look
 * like escapes, lone and paired surrogates, U+FFFD (what a lone surrogate becomes in UTF-8),
 * the kind letters scopes use, and plain letters. Few pieces, so near-misses are frequent.
 */
const PIECES = [
  '',
  ':',
  '/',
  '|',
  '\0',
  '%',
  '%3A',
  '%25',
  '%u',
  '%uD800',
  '\ud800',
  '\udc00',
  '\ufffd',
  '😀',
  'é',
  '*',
  '=',
  ' ',
  't',
  'u',
  'k',
  'a',
  'b',
  'c',
];

function generator(seed: number) {
  const random = prng(seed);
  const int = (n: number) => Math.floor(random() * n);
  const name = (): string => {
    let s = '';
    for (let n = int(4); n > 0; n--) s += PIECES[int(PIECES.length)];
    return s;
  };
  const maybe = (): string | undefined => (int(3) === 0 ? undefined : name());
  const caller = (): Caller => {
    const c: Caller = { user: name() };
    const team = maybe();
    const keyId = maybe();
    if (team !== undefined) c.team = team;
    if (keyId !== undefined) c.keyId = keyId;
    return c;
  };
  return { int, name, maybe, caller, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] };
}

const TRIES = 20_000;

/**
 * Builds `TRIES` keys from generated inputs and returns the first two inputs with different
 * identities and the same key (undefined when there is none). `identity` says when two inputs
 * are the same thing (JSON, which keeps lone surrogates apart as `\ud800` escapes).
 */
function findCollision<T>(
  make: (g: ReturnType<typeof generator>) => T,
  key: (input: T) => string,
  identity: (input: T) => unknown = (input) => input,
  seed = SEED,
): { key: string; a: T; b: T } | undefined {
  const g = generator(seed);
  const seen = new Map<string, { id: string; input: T }>();
  for (let i = 0; i < TRIES; i++) {
    const input = make(g);
    const k = key(input);
    const id = JSON.stringify(identity(input));
    const before = seen.get(k);
    if (before === undefined) seen.set(k, { id, input });
    else if (before.id !== id) return { key: k, a: before.input, b: input };
  }
  return undefined;
}

function assertInjective<T>(
  what: string,
  make: (g: ReturnType<typeof generator>) => T,
  key: (input: T) => string,
  identity?: (input: T) => unknown,
): void {
  const found = findCollision(make, key, identity);
  assert.equal(
    found,
    undefined,
    `${what}: ${JSON.stringify(found?.a)} and ${JSON.stringify(found?.b)} share ${JSON.stringify(found?.key)} (seed ${SEED})`,
  );
}

/** Printable ASCII: safe in headers and logs, and unchanged by a UTF-8 round trip (SQLite, Redis). */
const storable = (key: string) =>
  /^[\x20-\x7e]*$/.test(key) && Buffer.from(key, 'utf8').toString('utf8') === key;

/** What `scopeOf` promises to tell apart, per mode (an empty team or key id counts as none). */
function scopeIdentity(mode: CacheScope, caller: Caller): unknown[] {
  const team = caller.team || undefined;
  const keyId = caller.keyId || undefined;
  switch (mode) {
    case 'shared':
      return [];
    case 'team':
      return team ? ['team', team] : keyId ? ['key', keyId] : ['user', caller.user];
    case 'key':
      return keyId ? ['key', keyId] : ['user', caller.user];
    case 'user':
      return team ? ['team', team, caller.user] : keyId ? ['key', keyId, caller.user] : ['user', caller.user];
  }
}

const MODES: readonly CacheScope[] = ['shared', 'team', 'key', 'user'];

// ---- the reported case through the real gateway ------------------------------------------

const X_SECRET = 'sk-tenant-x-0123456789';
const Y_SECRET = 'sk-tenant-y-0123456789';
const ADMIN = 'admin-composite-keys-123';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** The two tenants of the report: X (team `a/b`, user `c`) and Y (team `a`, user `b/c`). */
const X: Caller = { user: 'c', team: 'a/b' };
const Y: Caller = { user: 'b/c', team: 'a' };

describe('issue 8.3: team a/b + user c is not team a + user b/c', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(
      {
        cache: { scope: 'user' },
        auth: {
          keys: [
            { sha256: sha256(X_SECRET), ...X },
            { sha256: sha256(Y_SECRET), ...Y },
          ],
        },
      },
      {},
      { SLUICE_ADMIN_KEY: ADMIN },
    );
  });
  after(() => gw.close());

  const client = (secret: string) => new OpenAI({ baseURL: gw.v1, apiKey: secret, maxRetries: 0 });
  const params = {
    model: 'gpt-4o-mini',
    temperature: 0,
    messages: [{ role: 'user' as const, content: 'What did we decide in the board meeting?' }],
  };

  it("Y never gets X's cached answer; each tenant hits its own; purging X's scope leaves Y's", async () => {
    const calls = () => gw.mock.counts().total;
    const start = calls();
    const x1 = await client(X_SECRET).chat.completions.create(params).withResponse();
    assert.equal(x1.response.headers.get('x-sluice-cache'), 'miss');
    const y1 = await client(Y_SECRET).chat.completions.create(params).withResponse();
    assert.equal(y1.response.headers.get('x-sluice-cache'), 'miss', "Y must not be answered from X's entry");
    assert.notEqual(y1.data.id, x1.data.id);
    assert.equal(calls() - start, 2, 'each tenant went upstream once');

    const x2 = await client(X_SECRET).chat.completions.create(params).withResponse();
    const y2 = await client(Y_SECRET).chat.completions.create(params).withResponse();
    assert.equal(x2.response.headers.get('x-sluice-cache'), 'exact');
    assert.equal(x2.data.id, x1.data.id);
    assert.equal(y2.response.headers.get('x-sluice-cache'), 'exact');
    assert.equal(y2.data.id, y1.data.id);

    // The admin purge derives X's scope as the cache does, and removes X's entry only.
    const purge = await fetch(`${gw.url}/admin/cache/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ team: X.team, user: X.user }),
    });
    assert.equal(purge.status, 200);
    assert.deepEqual(await purge.json(), { purged: 1 });
    const y3 = await client(Y_SECRET).chat.completions.create(params).withResponse();
    assert.equal(y3.response.headers.get('x-sluice-cache'), 'exact');
    const x3 = await client(X_SECRET).chat.completions.create(params).withResponse();
    assert.equal(x3.response.headers.get('x-sluice-cache'), 'miss');
  });

  it('purging by model still finds entries (the model is decoded from the key)', async () => {
    const model = 'gpt-4o-mini';
    const purgeModel = async () =>
      (await fetch(`${gw.url}/admin/cache/purge`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model }),
      }).then((r) => r.json())) as { purged: number };
    await purgeModel(); // start from none, whatever ran before
    // One entry per tenant (scoped keys that encode team and user), then purge them by model.
    const own = { ...params, messages: [{ role: 'user' as const, content: 'Who owns the purge runbook?' }] };
    for (const secret of [X_SECRET, Y_SECRET]) await client(secret).chat.completions.create(own);
    await gw.sluice.gateway.cache.flush();
    assert.deepEqual(await purgeModel(), { purged: 2 });
  });

  it('the semantic partitions of X and Y differ for the same question', () => {
    const context = { dialect: 'openai', model: 'gpt-4o-mini', messages: [{ role: 'user', extras: [] }] };
    const x = callerPartition('user', X, 'chat', 'gpt-4o-mini', context);
    const y = callerPartition('user', Y, 'chat', 'gpt-4o-mini', context);
    assert.notEqual(x, y);
    assert.equal(x, callerPartition('user', { ...X }, 'chat', 'gpt-4o-mini', context), 'stable');
  });
});

// ---- the shared encoder --------------------------------------------------------------------

describe('compositeKey', () => {
  it('leaves plain names readable and escapes separators, % and non-ASCII by code unit', () => {
    assert.equal(
      compositeKey('budget', 'user', 'ann@example.com', 'd2025-01-31'),
      'budget:user:ann@example.com:d2025-01-31',
    );
    assert.equal(compositeKey('t', 'a/b'), 't:a/b');
    assert.equal(keyPart('a:b%c'), 'a%3Ab%25c');
    assert.equal(keyPart('\ud800x\u20ac'), '%uD800x%u20AC');
    assert.equal(keyPart('\0|'), '%00%7C');
    assert.equal(keyPart(-12), '-12');
  });

  it('never throws on any JS string and round-trips it exactly (lone surrogates included)', () => {
    const g = generator(SEED);
    for (let i = 0; i < 5000; i++) {
      const parts = Array.from({ length: 1 + g.int(4) }, g.name);
      const key = compositeKey('kind', ...parts);
      assert.ok(storable(key), JSON.stringify(key));
      assert.deepEqual(decodeCompositeKey(key), ['kind', ...parts]);
    }
    assert.equal(decodeCompositeKey('a:b%3'), undefined, 'a broken escape is not a composite key');
    assert.equal(decodeCompositeKey('a b'), undefined, 'nor is an unescaped character');
  });

  it('is one-to-one over part lists of any length', () => {
    assertInjective(
      'compositeKey',
      (g) => Array.from({ length: 1 + g.int(4) }, g.name),
      (parts) => compositeKey(parts[0], ...parts.slice(1)),
    );
  });

  it('a prefix matches exactly the keys that start with those parts', () => {
    const g = generator(SEED + 1);
    for (let i = 0; i < 5000; i++) {
      const [a, b, c] = [g.name(), g.name(), g.name()];
      const other = g.name();
      const key = compositeKey('k', a, b, c);
      assert.ok(key.startsWith(compositeKeyPrefix('k', a)));
      assert.ok(key.startsWith(compositeKeyPrefix('k', a, b)));
      assert.equal(key.startsWith(compositeKeyPrefix('k', other)), other === a, JSON.stringify([a, other]));
    }
  });

  it('the checker has teeth: it finds the old scope formula`s collision', () => {
    const old = (c: Caller) => `u:${c.team ?? c.keyId ?? ''}/${c.user}`;
    const found = findCollision(
      (g) => g.caller(),
      old,
      (c) => scopeIdentity('user', c),
    );
    assert.ok(found, 'the generator reaches colliding names like a/b + c vs a + b/c');
    assert.equal(old(X), old(Y));
  });
});

// ---- every key builder ---------------------------------------------------------------------

describe('distinct identities never share a key', () => {
  for (const mode of MODES) {
    it(`cache scope (${mode})`, () => {
      assertInjective(
        `scopeOf(${mode})`,
        (g) => g.caller(),
        (c) => scopeOf(mode, c),
        (c) => scopeIdentity(mode, c),
      );
      const g = generator(SEED + 2);
      for (let i = 0; i < 2000; i++) assert.ok(storable(scopeOf(mode, g.caller())));
    });
  }

  it('exact cache key (scope, model), with the model decodable and prefixes exact', () => {
    const body = (model: string) => ({ model, messages: [{ role: 'user', content: 'same question' }] });
    const make = (g: ReturnType<typeof generator>) => ({ caller: g.caller(), model: g.name() });
    const key = ({ caller, model }: { caller: Caller; model: string }) =>
      canonicalKey({ dialect: 'openai', route: 'chat', scope: scopeOf('user', caller), body: body(model) });
    assertInjective('canonicalKey', make, key, ({ caller, model }) => [scopeIdentity('user', caller), model]);

    const g = generator(SEED + 3);
    for (let i = 0; i < 3000; i++) {
      const a = make(g);
      const b = make(g);
      const k = key(a);
      assert.ok(storable(k));
      assert.equal(modelOfKey(k), a.model);
      const sameScope = scopeOf('user', a.caller) === scopeOf('user', b.caller);
      assert.equal(k.startsWith(exactKeyPrefix(scopeOf('user', b.caller))), sameScope);
      assert.equal(
        k.startsWith(exactKeyPrefix(scopeOf('user', b.caller), b.model)),
        sameScope && a.model === b.model,
      );
    }
  });

  it('semantic partition (scope, route, model)', () => {
    const context = { dialect: 'openai', messages: [] };
    for (const mode of ['user', 'team'] as const) {
      assertInjective(
        `callerPartition(${mode})`,
        (g) => ({ caller: g.caller(), model: g.name(), route: g.pick(['chat', 'messages'] as const) }),
        ({ caller, model, route }) => callerPartition(mode, caller, route, model, { ...context, model }),
        ({ caller, model, route }) => [scopeIdentity(mode, caller), model, route],
      );
    }
  });

  it('budget counters (scope kind, id, period)', () => {
    const kinds: readonly BudgetScopeKind[] = ['key', 'user', 'team'];
    assertInjective(
      'budgetCounterKey',
      (g) => [g.pick(kinds), g.name(), g.pick(['d2025-01-31', 'm2025-01', g.name()])] as const,
      ([kind, id, period]) => budgetCounterKey(kind, id, period),
    );
    // Plain names keep the key they had before escaping, so spend already counted is kept.
    assert.equal(budgetCounterKey('user', 'ann', 'd2025-01-31'), 'budget:user:ann:d2025-01-31');
    assert.notEqual(
      budgetCounterKey('user', 'a:d2025-01-31', 'm2025-01'),
      budgetCounterKey('user', 'a', 'd2025-01-31:m2025-01'),
    );
  });

  it('rate-limit counters (rule, id, kind, window) and default rule names', () => {
    assertInjective(
      'rateLimitCounterKey',
      (g) => [g.name(), g.name(), g.pick(['r', 't'] as const), g.int(3) - 1] as const,
      ([rule, id, kind, window]) => rateLimitCounterKey(rule, id, kind, window),
    );
    assert.notEqual(rateLimitCounterKey('a', 'b:c', 'r', 1), rateLimitCounterKey('a:b', 'c', 'r', 1));
    const scopes = ['key', 'user', 'team', 'upstream'] as const;
    assertInjective(
      'defaultRuleName',
      // The schema wants non-empty match and tier.
      (g) => ({ scope: g.pick(scopes), match: g.maybe() || undefined, tier: g.maybe() || undefined }),
      (r) => defaultRuleName(rateLimitRuleSchema.parse({ ...r, rpm: 1 })),
    );
    // A rule for the user literally named `*` is not the rule for every user.
    assert.notEqual(
      defaultRuleName(rateLimitRuleSchema.parse({ scope: 'user', match: '*', rpm: 1 })),
      defaultRuleName(rateLimitRuleSchema.parse({ scope: 'user', rpm: 1 })),
    );
  });

  it('price lookups: a model name holding NUL cannot poison the entry of (hint, model)', () => {
    const prices = new PriceBook();
    assert.equal(prices.lookup('openai\0gpt-4o'), undefined);
    const priced = prices.lookup('gpt-4o', 'openai');
    assert.equal(priced?.matched, 'gpt-4o', 'still priced after the odd name was looked up');
    assert.equal(priced?.provider, 'openai');
  });

  it('conversation summaries are kept per caller: another tenant with the same opening writes its own', async () => {
    const store = new MemoryKvStore();
    const summarised: string[] = [];
    const messages = Array.from({ length: 16 }, (_, i) => ({
      role: i % 2 === 0 ? 'user' : 'assistant',
      content: `Turn ${i}: ${'the same long conversation about the harvest. '.repeat(10)}`,
    }));
    const run = (caller: Caller) =>
      compressHistory({
        dialect: 'openai',
        body: { model: 'gpt-4o', messages },
        config: tokensConfigSchema.parse({ compression: { thresholdTokens: 800, keepTurns: 2 } }).compression,
        // A rough count is enough here: only over/under the threshold matters.
        count: (body) => Math.ceil(JSON.stringify(body).length / 4),
        summarise: async (_messages, _model, who) => {
          summarised.push(who.user);
          return {
            text: `summary for ${who.user}`,
            usage: { inputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 1 },
          };
        },
        caller,
        store,
      });
    assert.equal((await run(X))?.summary, 'summariser');
    const y = await run(Y);
    assert.equal(y?.summary, 'summariser', "Y is not served X's stored summary");
    assert.ok(!JSON.stringify(y?.body).includes('summary for c'));
    assert.equal((await run(X))?.summary, 'cache', 'X still reuses its own');
    assert.deepEqual(summarised, ['c', 'b/c']);
  });
});
