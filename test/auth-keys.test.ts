import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKey, isAdmin, listKeys, revokeKey } from '../src/auth/admin.js';
import { authConfigSchema } from '../src/auth/config.js';
import { KeyStore } from '../src/auth/keys.js';
import { authStage } from '../src/auth/stage.js';
import { isSluiceError } from '../src/errors.js';
import { StoreUnavailableError } from '../src/store/errors.js';
import { createContext } from '../src/pipeline/context.js';
import type { Caller, RequestContext } from '../src/pipeline/types.js';
import { MemoryKvStore } from '../src/store/memory.js';
import { json } from './cost-helpers.js';

function ctxWith(
  headers: Record<string, string>,
  body: Record<string, unknown> = { model: 'gpt-4o', messages: [] },
) {
  return createContext({
    dialect: 'openai',
    route: 'chat',
    headers,
    body,
    signal: new AbortController().signal,
    timeoutMs: 1000,
  });
}

/** Run the auth stage; returns the caller it settled on, or the error it threw. */
async function authenticate(keys: KeyStore, config = authConfigSchema.parse({}), ctx: RequestContext) {
  let seen: Caller | undefined;
  try {
    await authStage({ keys, config })(ctx, async () => {
      seen = ctx.caller;
      return json({});
    });
  } catch (e) {
    return e;
  }
  return seen;
}

describe('virtual keys', () => {
  it('creates a key shown once and stores only its hash', async () => {
    const kv = new MemoryKvStore();
    const keys = new KeyStore(kv, authConfigSchema.parse({}));
    assert.equal(await keys.hasKeys(), false);
    const { key, record } = await keys.create({ user: 'alice', team: 'labs', dailyUsd: 2 });
    assert.match(key, /^sk-sluice-[A-Za-z0-9_-]{32}$/);
    assert.equal(record.tier, 'free', 'default key tier');
    assert.equal('hash' in record, false);
    assert.equal(await keys.hasKeys(), true);
    for await (const k of kv.keys('')) {
      const stored = Buffer.from((await kv.get(k))!).toString('utf8');
      assert.ok(!stored.includes(key), 'the key itself is never stored');
      assert.ok(stored.includes(createHash('sha256').update(key).digest('hex')));
    }
  });

  it('while the store is away, keys seen recently still resolve and an unknown key gets 503', async () => {
    const kv = new MemoryKvStore();
    let now = 1_000_000;
    const keys = new KeyStore(kv, authConfigSchema.parse({ cacheSeconds: 1 }), { now: () => now });
    const { key } = await keys.create({ user: 'alice' });
    assert.equal(await keys.hasKeys(), true);
    assert.equal((await keys.resolve(key)).ok, true);
    const away = () => Promise.reject(new StoreUnavailableError('store down'));
    kv.get = away;
    kv.keys = () => ({ [Symbol.asyncIterator]: () => ({ next: away }) });
    now += 60_000; // every cached answer is stale
    assert.equal(await keys.hasKeys(), true);
    assert.equal((await keys.resolve(key)).ok, true);
    const unknown = await keys.resolve('sk-sluice-unknownunknownunknownunknown12').catch((e: unknown) => e);
    assert.ok(unknown instanceof StoreUnavailableError);
    assert.equal(unknown.status, 503);

    // Without keys, requests keep passing unauthenticated instead of all getting 503.
    const empty = new MemoryKvStore();
    const none = new KeyStore(empty, authConfigSchema.parse({ cacheSeconds: 1 }), { now: () => now });
    assert.equal(await none.hasKeys(), false);
    empty.keys = () => ({ [Symbol.asyncIterator]: () => ({ next: away }) });
    now += 60_000;
    assert.equal(await none.hasKeys(), false);
  });

  it('resolves, revokes and lists keys; a revoke takes effect at once', async () => {
    const kv = new MemoryKvStore();
    const keys = new KeyStore(kv, authConfigSchema.parse({}));
    const a = await keys.create({ user: 'alice' });
    const b = await keys.create({ user: 'bob', tier: 'pro' });
    const resolved = await keys.resolve(a.key);
    assert.ok(resolved.ok && resolved.record.user === 'alice');
    assert.deepEqual(await keys.resolve(`${a.key}x`), { ok: false, reason: 'unknown' });
    await keys.revoke(a.record.id);
    assert.deepEqual(await keys.resolve(a.key), { ok: false, reason: 'revoked' });
    const listed = await keys.list();
    assert.deepEqual(listed.map((r) => [r.user, r.revokedAt !== undefined]).sort(), [
      ['alice', true],
      ['bob', false],
    ]);
    // Another instance on the same store sees the revoke (no cache).
    const other = new KeyStore(kv, authConfigSchema.parse({ cacheSeconds: 0 }));
    assert.deepEqual(await other.resolve(a.key), { ok: false, reason: 'revoked' });
    assert.ok((await other.resolve(b.key)).ok);
  });

  it('accepts keys declared in config by their SHA-256', async () => {
    const secret = 'sk-from-my-vault-123';
    const config = authConfigSchema.parse({
      keys: [
        {
          sha256: createHash('sha256').update(secret).digest('hex'),
          user: 'svc',
          team: 'ops',
          tier: 'enterprise',
        },
      ],
    });
    const keys = new KeyStore(new MemoryKvStore(), config);
    assert.equal(await keys.hasKeys(), true);
    const caller = await authenticate(keys, config, ctxWith({ authorization: `Bearer ${secret}` }));
    assert.deepEqual(caller, {
      user: 'svc',
      team: 'ops',
      keyId: `vk_${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`,
      tier: 'enterprise',
    });
  });
});

describe('auth stage', () => {
  it('without keys: the caller named by the request, with team and tier from config', async () => {
    const config = authConfigSchema.parse({
      users: { alice: { team: 'labs', tier: 'pro' } },
      defaultTier: 'free',
    });
    const keys = new KeyStore(new MemoryKvStore(), config);
    assert.deepEqual(await authenticate(keys, config, ctxWith({ 'x-sluice-user': 'alice' })), {
      user: 'alice',
      team: 'labs',
      tier: 'pro',
    });
    assert.deepEqual(await authenticate(keys, config, ctxWith({}, { model: 'm', user: 'bob' })), {
      user: 'bob',
      tier: 'free',
    });
    assert.deepEqual(
      await authenticate(keys, config, ctxWith({ authorization: 'Bearer sk-openai-whatever' })),
      {
        user: 'anonymous',
        tier: 'free',
      },
    );
  });

  it('with keys: 401 without a key or with a bad or revoked one; the key decides the caller', async () => {
    const config = authConfigSchema.parse({});
    const keys = new KeyStore(new MemoryKvStore(), config);
    const { key, record } = await keys.create({ user: 'alice', team: 'labs', tier: 'pro' });

    const missing = await authenticate(keys, config, ctxWith({ 'x-sluice-user': 'mallory' }));
    assert.ok(isSluiceError(missing) && missing.status === 401 && /Missing API key/.test(missing.message));
    const bad = await authenticate(keys, config, ctxWith({ authorization: 'Bearer sk-sluice-nope' }));
    assert.ok(
      isSluiceError(bad) &&
        bad.code === 'unauthorized' &&
        /^Invalid API key: .*auth\.required: auto/.test(bad.message),
    );

    const ctx = ctxWith({ authorization: `Bearer ${key}`, 'x-sluice-user': 'mallory' });
    assert.deepEqual(await authenticate(keys, config, ctx), {
      user: 'alice',
      team: 'labs',
      keyId: record.id,
      tier: 'pro',
    });
    assert.equal(ctx.virtualKey?.id, record.id);
    // Anthropic clients send x-api-key.
    assert.equal(((await authenticate(keys, config, ctxWith({ 'x-api-key': key }))) as Caller).user, 'alice');

    await keys.revoke(record.id);
    const revoked = await authenticate(keys, config, ctxWith({ authorization: `Bearer ${key}` }));
    assert.ok(isSluiceError(revoked) && /revoked/.test(revoked.message));
  });
});

describe('admin operations', () => {
  it('checks the admin key in constant time and manages keys', async () => {
    assert.equal(isAdmin({ authorization: 'Bearer s3cret' }, 's3cret'), true);
    assert.equal(isAdmin({ authorization: 'Bearer s3cre' }, 's3cret'), false);
    assert.equal(
      isAdmin({ authorization: 'Bearer s3cret' }, undefined),
      false,
      'no admin key configured: no admin',
    );
    const keys = new KeyStore(new MemoryKvStore(), authConfigSchema.parse({}));
    const made = await createKey(keys, { user: 'alice', tier: 'pro', daily_usd: 3 });
    assert.match(made.key, /^sk-sluice-/);
    assert.equal(made.dailyUsd, 3);
    await assert.rejects(
      createKey(keys, { team: 'x' }),
      (e: unknown) => isSluiceError(e) && e.status === 400,
    );
    await assert.rejects(createKey(keys, { user: 'a', bogus: 1 }), /invalid key request/);
    assert.equal((await listKeys(keys)).keys.length, 1);
    assert.ok((await revokeKey(keys, made.id)).revokedAt);
    await assert.rejects(revokeKey(keys, 'vk_missing'), (e: unknown) => isSluiceError(e) && e.status === 404);
  });
});
