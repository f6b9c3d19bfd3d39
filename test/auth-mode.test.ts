import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import { describeAuthMode } from '../src/auth/mode.js';
import { startTestGateway, type TestGateway } from './helpers.js';

const ADMIN = 'admin-secret-for-auth-mode';
const CHAT = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };

interface KeyReply {
  key?: string;
  id: string;
  user: string;
  dailyUsd?: number;
  monthlyUsd?: number;
  revokedAt?: string;
}

/** A gateway with the admin API on, and helpers that talk to it as an operator and as clients would. */
async function gatewayWith(required?: 'auto' | 'always' | 'never') {
  const gw: TestGateway = await startTestGateway(
    required ? { auth: { required } } : {},
    {},
    { SLUICE_ADMIN_KEY: ADMIN },
  );
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${gw.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    });
  const createKey = async (body: Record<string, unknown>): Promise<KeyReply> => {
    const res = await admin('/admin/keys', { method: 'POST', body: JSON.stringify(body) });
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as KeyReply;
  };
  /** The official SDK insists on some key; an anonymous caller sends a placeholder. */
  const client = (apiKey = 'anything') => new OpenAI({ baseURL: gw.v1, apiKey, maxRetries: 0 });
  const refused = (apiKey?: string) =>
    client(apiKey)
      .chat.completions.create(CHAT)
      .then(
        () => assert.fail('expected a 401'),
        (e: unknown) => {
          assert.ok(e instanceof OpenAI.AuthenticationError, `expected a 401, got ${e}`);
          return e.message;
        },
      );
  return { gw, admin, createKey, client, refused };
}

describe('auth.required', () => {
  const open: TestGateway[] = [];
  after(() => Promise.all(open.map((gw) => gw.close())));

  it('auto (the default): anonymous until a key exists, then a key is required, even after every key is revoked', async () => {
    const { gw, admin, createKey, client, refused } = await gatewayWith();
    open.push(gw);
    assert.equal(gw.sluice.gateway.config.auth.required, 'auto');
    await client().chat.completions.create(CHAT);

    const made = await createKey({ user: 'ann', dailyUsd: 2, monthlyUsd: 20 });
    assert.equal(made.dailyUsd, 2, 'camelCase in the body, camelCase in the reply');
    assert.equal(made.monthlyUsd, 20);
    assert.match(await refused(), /auth\.required: auto/);
    await client(made.key).chat.completions.create(CHAT);

    const revoked = await admin(`/admin/keys/${made.id}`, { method: 'DELETE' });
    assert.equal(revoked.status, 200);
    assert.ok(((await revoked.json()) as KeyReply).revokedAt);
    assert.match(await refused(made.key), /revoked/);
    // Revoking the last key must not open the gateway to anyone.
    assert.match(await refused(), /Invalid API key: .*auth\.required: auto/);
    const bare = await fetch(`${gw.v1}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(CHAT),
    });
    assert.equal(bare.status, 401);
    assert.match(((await bare.json()) as { error: { message: string } }).error.message, /^Missing API key/);
  });

  it('always: a key is required before any exists', async () => {
    const { gw, createKey, client, refused } = await gatewayWith('always');
    open.push(gw);
    assert.match(await refused(), /auth\.required: always/);
    const made = await createKey({ user: 'bo' });
    await client(made.key).chat.completions.create(CHAT);
  });

  it('never: anonymous callers pass with keys around, and a valid key still names its caller', async () => {
    const { gw, admin, createKey, client, refused } = await gatewayWith('never');
    open.push(gw);
    const made = await createKey({ user: 'cy' });
    await client().chat.completions.create(CHAT);
    await client(made.key).chat.completions.create(CHAT);
    const usage = (await (await admin('/admin/usage?user=cy&days=1')).json()) as {
      totals: { requests: number };
    };
    assert.equal(usage.totals.requests, 1, 'the keyed call is billed to the key user');
    // A revoked key is ignored like any unknown one, never a way in or out.
    await admin(`/admin/keys/${made.id}`, { method: 'DELETE' });
    await client(made.key).chat.completions.create(CHAT);
    await assert.doesNotReject(client('sk-sluice-not-a-key').chat.completions.create(CHAT));
    assert.ok(refused, 'refusals are never expected in this mode');
  });

  it('start-up says which mode is on', () => {
    assert.match(describeAuthMode('auto', false), /no virtual key exists yet/);
    assert.match(describeAuthMode('auto', true), /every request must present one/);
    assert.match(describeAuthMode('always', false), /every request must present a virtual key/);
    assert.match(describeAuthMode('never', true), /anonymous requests are accepted/);
  });
});

describe('admin API key routes', () => {
  let ctx: Awaited<ReturnType<typeof gatewayWith>>;
  after(() => ctx?.gw.close());

  it('GET and DELETE /admin/keys/{id}; ?id= still works; unknown ids are 404', async () => {
    ctx = await gatewayWith('never');
    const { admin, createKey } = ctx;
    const made = await createKey({ user: 'dee', tier: 'pro' });
    const got = await admin(`/admin/keys/${made.id}`);
    assert.equal(got.status, 200);
    const record = (await got.json()) as KeyReply & { tier: string; hash?: string };
    assert.equal(record.user, 'dee');
    assert.equal(record.tier, 'pro');
    assert.equal(record.key, undefined, 'the key is shown once, at creation');
    assert.equal(record.hash, undefined);

    assert.equal((await admin('/admin/keys/vk_0000000000000000', { method: 'DELETE' })).status, 404);
    const other = await createKey({ user: 'eve' });
    const viaQuery = await admin(`/admin/keys?id=${other.id}`, { method: 'DELETE' });
    assert.equal(viaQuery.status, 200, 'the deprecated ?id= form keeps working');
    const listed = (await (await admin('/admin/keys')).json()) as { keys: KeyReply[] };
    assert.ok(listed.keys.find((k) => k.id === other.id)?.revokedAt);
    assert.equal(listed.keys.find((k) => k.id === made.id)?.revokedAt, undefined);
  });

  it('create accepts snake_case as an alias, refuses both spellings at once, and suggests the field meant', async () => {
    const { admin, createKey } = ctx;
    const snake = await createKey({ user: 'fay', daily_usd: 1.5 });
    assert.equal(snake.dailyUsd, 1.5);

    const both = await admin('/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ user: 'fay', dailyUsd: 1, daily_usd: 2 }),
    });
    assert.equal(both.status, 400);
    assert.match(((await both.json()) as { error: { message: string } }).error.message, /not both/);

    const typo = await admin('/admin/keys', {
      method: 'POST',
      body: JSON.stringify({ user: 'fay', dailyUSD: 1 }),
    });
    assert.equal(typo.status, 400);
    const error = ((await typo.json()) as { error: { message: string; param: string } }).error;
    assert.match(error.message, /dailyUSD is not a field; did you mean dailyUsd\?/);
    assert.equal(error.param, 'dailyUSD');
  });
});
