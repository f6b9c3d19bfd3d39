import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SluiceError } from '../src/errors.js';
import { rateLimitRuleSchema } from '../src/flow/config.js';
import { defaultRuleName, msUntilFits, RateLimiter, rateLimitCounterKey } from '../src/flow/rate-limit.js';
import { MemoryCounterStore } from '../src/store/memory.js';

const MINUTE = 60_000;

function setup(rules: unknown[], start = 10 * MINUTE) {
  const clock = { t: start };
  const store = new MemoryCounterStore({ now: () => clock.t });
  const make = () =>
    new RateLimiter({ rules: rules.map((r) => rateLimitRuleSchema.parse(r)), store, now: () => clock.t });
  return { clock, store, limiter: make(), make };
}

async function refusal(p: Promise<unknown>): Promise<SluiceError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof SluiceError, 'a SluiceError');
    return error;
  }
  assert.fail('expected a rate_limited refusal');
}

describe('requests per minute', () => {
  test('allows rpm requests, then 429 with Retry-After and x-ratelimit headers; other users unaffected', async () => {
    const { limiter } = setup([{ scope: 'user', rpm: 3 }]);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await limiter.reserve({ user: 'ann' }, 0);
      seen.push(r.headers['x-ratelimit-remaining-requests']);
      assert.equal(r.headers['x-ratelimit-limit-requests'], '3');
    }
    assert.deepEqual(seen, ['2', '1', '0']);
    const error = await refusal(limiter.reserve({ user: 'ann' }, 0));
    assert.equal(error.code, 'rate_limited');
    assert.equal(error.status, 429);
    assert.ok((error.extra.retryAfterSeconds ?? 0) >= 1, 'has a Retry-After');
    assert.equal(error.extra.headers?.['retry-after'], String(error.extra.retryAfterSeconds));
    assert.equal(error.extra.headers?.['x-ratelimit-limit-requests'], '3');
    assert.equal(error.extra.headers?.['x-ratelimit-remaining-requests'], '0');
    assert.match(error.extra.headers?.['x-ratelimit-reset-requests'] ?? '', /^\d+(ms|s|m\d+s)$/);
    assert.equal(error.extra.details?.scope, 'user');
    await limiter.reserve({ user: 'bob' }, 0);
  });

  test('the window slides: the previous minute still counts in proportion', async () => {
    const { limiter, clock } = setup([{ scope: 'key', rpm: 4 }]);
    for (let i = 0; i < 4; i++) await limiter.reserve({ key: 'k1' }, 0);
    // Half-way into the next window: 4 x 0.5 = 2 carried, so 2 more fit and the third does not.
    clock.t += MINUTE + MINUTE / 2;
    await limiter.reserve({ key: 'k1' }, 0);
    await limiter.reserve({ key: 'k1' }, 0);
    await refusal(limiter.reserve({ key: 'k1' }, 0));
    // Two windows later nothing is carried.
    clock.t += 2 * MINUTE;
    for (let i = 0; i < 4; i++) await limiter.reserve({ key: 'k1' }, 0);
  });

  test('Retry-After is when the next request fits, not sooner', async () => {
    const { limiter, clock } = setup([{ scope: 'user', rpm: 2 }], 10 * MINUTE + 15_000);
    await limiter.reserve({ user: 'u' }, 0);
    await limiter.reserve({ user: 'u' }, 0);
    const error = await refusal(limiter.reserve({ user: 'u' }, 0));
    const waitMs = error.extra.details?.retry_after_ms as number;
    assert.ok(waitMs > 0, `wait ${waitMs}`);
    clock.t += waitMs - 1000;
    await refusal(limiter.reserve({ user: 'u' }, 0));
    clock.t += 1000;
    await limiter.reserve({ user: 'u' }, 0);
  });

  test('limits are shared through the store by every gateway instance', async () => {
    const { make } = setup([{ scope: 'team', rpm: 2 }]);
    const a = make();
    const b = make();
    await a.reserve({ team: 't' }, 0);
    await b.reserve({ team: 't' }, 0);
    await refusal(a.reserve({ team: 't' }, 0));
    await refusal(b.reserve({ team: 't' }, 0));
  });
});

describe('tokens per minute', () => {
  test('reserves the estimate, refuses over the limit, and settles to the real usage', async () => {
    const { limiter } = setup([{ scope: 'user', tpm: 1000 }]);
    const first = await limiter.reserve({ user: 'u' }, 600);
    assert.equal(first.headers['x-ratelimit-remaining-tokens'], '400');
    const error = await refusal(limiter.reserve({ user: 'u' }, 600));
    assert.equal(error.extra.details?.limit_type, 'tokens');
    assert.equal(error.extra.headers?.['x-ratelimit-limit-tokens'], '1000');
    await first.settle(200); // the call used fewer tokens than estimated
    const second = await limiter.reserve({ user: 'u' }, 600);
    assert.equal(second.headers['x-ratelimit-remaining-tokens'], '200');
    await second.settle(0); // refund: the call never happened
    const third = await limiter.reserve({ user: 'u' }, 700);
    assert.equal(third.headers['x-ratelimit-remaining-tokens'], '100');
  });

  test('a request larger than the whole limit is refused without a Retry-After', async () => {
    const { limiter } = setup([{ scope: 'user', tpm: 1000 }]);
    const error = await refusal(limiter.reserve({ user: 'u' }, 5000));
    assert.equal(error.code, 'rate_limited');
    assert.equal(error.extra.retryAfterSeconds, undefined);
    assert.match(error.message, /5000 tokens/);
  });

  test('rpm and tpm are all or nothing: a refused token limit does not count the request', async () => {
    const { limiter } = setup([{ scope: 'user', rpm: 10, tpm: 100 }]);
    await limiter.reserve({ user: 'u' }, 90);
    await refusal(limiter.reserve({ user: 'u' }, 20));
    const r = await limiter.reserve({ user: 'u' }, 10);
    assert.equal(r.headers['x-ratelimit-remaining-requests'], '8');
  });
});

describe('scopes and matching', () => {
  test('match picks one id, tier picks a tier, upstream limits count per upstream', async () => {
    const { limiter } = setup([
      { scope: 'key', match: 'k-small', rpm: 1 },
      { scope: 'user', tier: 'free', rpm: 1 },
      { scope: 'upstream', match: 'openai', rpm: 2 },
    ]);
    await limiter.reserve({ key: 'k-small' }, 0);
    await refusal(limiter.reserve({ key: 'k-small' }, 0));
    for (let i = 0; i < 3; i++) await limiter.reserve({ key: 'k-big' }, 0);

    await limiter.reserve({ user: 'f', tier: 'free' }, 0);
    await refusal(limiter.reserve({ user: 'f', tier: 'free' }, 0));
    for (let i = 0; i < 3; i++) await limiter.reserve({ user: 'p', tier: 'pro' }, 0);

    await limiter.reserve({ upstream: 'openai' }, 0);
    await limiter.reserve({ upstream: 'openai' }, 0);
    const error = await refusal(limiter.reserve({ upstream: 'openai' }, 0));
    assert.equal(error.extra.details?.scope, 'upstream');
    await limiter.reserve({ upstream: 'anthropic' }, 0);
  });

  test('the tightest limit is the one reported in the headers', async () => {
    const { limiter } = setup([
      { scope: 'user', rpm: 100 },
      { scope: 'team', rpm: 5 },
    ]);
    const r = await limiter.reserve({ user: 'u', team: 't' }, 0);
    assert.equal(r.headers['x-ratelimit-limit-requests'], '5');
    assert.equal(r.headers['x-ratelimit-remaining-requests'], '4');
  });

  test('no applicable rule: nothing is counted and no headers are added', async () => {
    const { limiter, store } = setup([{ scope: 'team', rpm: 1 }]);
    const r = await limiter.reserve({ user: 'u' }, 10);
    assert.deepEqual(r.headers, {});
    assert.equal(limiter.hasRulesFor(['user']), false);
    assert.equal(limiter.hasRulesFor(['team']), true);
    const teamRule = defaultRuleName(rateLimitRuleSchema.parse({ scope: 'team', rpm: 1 }));
    assert.deepEqual(await store.get([`sluice:rl:${rateLimitCounterKey(teamRule, 'u', 'r', 10)}`]), [0]);
  });

  test('a rule needs rpm or tpm', () => {
    assert.throws(() => rateLimitRuleSchema.parse({ scope: 'user' }));
  });
});

describe('msUntilFits', () => {
  test('waits for the previous window to fade, or for the next window', () => {
    // 30 s in; previous window 10, current 0, limit 10: 10 x 0.5 = 5 used, so 1 more fits now.
    assert.equal(msUntilFits(10, 0, 1, 10, 0.5, MINUTE), 0);
    // Previous 10, current 5 at 30 s: 5 + 5 = 10 used; one more fits once the previous
    // window's weight drops to 4, at 36 s.
    assert.equal(msUntilFits(10, 5, 1, 10, 0.5, MINUTE), 6000);
    // Current window alone is full: wait for the next window and some of its fading.
    assert.equal(msUntilFits(0, 10, 1, 10, 0.5, MINUTE), 30_000 + 6000);
  });
});
