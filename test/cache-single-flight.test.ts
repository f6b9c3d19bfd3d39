import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { cacheConfigSchema } from '../src/cache/config.js';
import { ExactCache } from '../src/cache/exact-cache.js';
import { exactCacheStage } from '../src/cache/exact-stage.js';
import { singleFlightStage } from '../src/cache/single-flight.js';
import { SluiceError } from '../src/errors.js';
import { compose } from '../src/pipeline/compose.js';
import type { Reply, RequestContext } from '../src/pipeline/types.js';
import { MemoryKvStore } from '../src/store/memory.js';
import {
  type CtxOptions,
  jsonReply,
  makeCtx,
  OPENAI_BODY,
  openAITextSse,
  readReply,
  streamReply,
} from './cache-fixtures.js';

const COMPLETION = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
};

/**
 * exact cache → single-flight → a fake upstream that holds every call until the test opens
 * the gate, so "concurrent" means what it says without timers.
 */
function pipeline(answer: (ctx: RequestContext) => Reply | Promise<Reply> = () => jsonReply(COMPLETION)) {
  const cache = new ExactCache({ store: new MemoryKvStore(), config: cacheConfigSchema.parse({}) });
  const flight = singleFlightStage();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const seen: RequestContext[] = [];
  const handle = compose([
    exactCacheStage(cache),
    flight,
    async (ctx) => {
      seen.push(ctx);
      await gate;
      return answer(ctx);
    },
  ]);
  const send = (options: CtxOptions = {}) => {
    const ctx = makeCtx(options);
    return { ctx, reply: handle(ctx) };
  };
  return { cache, flight, send, open, seen };
}

const streaming = (extra: Record<string, unknown> = {}) => ({
  body: { ...OPENAI_BODY, stream: true, ...extra },
});

describe('single-flight', () => {
  it('collapses identical concurrent JSON requests into one upstream call', async () => {
    const p = pipeline();
    const requests = Array.from({ length: 10 }, () => p.send());
    await tick();
    assert.equal(p.flight.inFlight(), 1);
    p.open();
    const bodies = await Promise.all(requests.map(async (r) => readReply(await r.reply)));
    assert.equal(p.seen.length, 1);
    assert.equal(new Set(bodies).size, 1);
    assert.equal(JSON.parse(bodies[0]).id, 'chatcmpl-1');
    assert.equal(p.flight.joined(), 9);
    const followers = requests.filter((r) => r.ctx.flightFollower === true);
    assert.equal(followers.length, 9);
    for (const f of followers)
      assert.deepEqual(f.ctx.usage, {
        inputTokens: 0,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        outputTokens: 0,
      });
    await p.cache.flush();
    assert.equal(p.cache.stats().writes, 1, 'only the leader writes the entry');
    assert.equal(p.flight.inFlight(), 0);
    assert.equal((await p.send().reply).kind, 'json');
    assert.equal(p.seen.length, 1, 'later requests hit the cache');
  });

  it('streaming followers get the stream as it arrives, late joiners from the start', async () => {
    const p = pipeline(() => streamReply(openAITextSse(), { delayMs: 2 }));
    const first = [p.send(streaming()), p.send(streaming()), p.send(streaming())];
    await tick();
    p.open();
    const leaderReply = await first[0].reply;
    assert.equal(leaderReply.kind, 'stream');
    // Read a little of the leader's stream, then let another identical request join mid-stream.
    const leaderIterator = (leaderReply as { chunks: AsyncIterable<Uint8Array> }).chunks[
      Symbol.asyncIterator
    ]();
    const decoder = new TextDecoder();
    let leaderText = '';
    for (let i = 0; i < 5; i++)
      leaderText += decoder.decode((await leaderIterator.next()).value, { stream: true });
    const late = p.send(streaming());
    for (let step = await leaderIterator.next(); !step.done; step = await leaderIterator.next()) {
      leaderText += decoder.decode(step.value, { stream: true });
    }
    const others = await Promise.all([...first.slice(1), late].map(async (r) => readReply(await r.reply)));
    assert.equal(p.seen.length, 1);
    assert.equal(leaderText, openAITextSse());
    for (const text of others) assert.equal(text, openAITextSse());
  });

  it('keeps apart requests that differ in stream mode, include_usage, scope or cacheability', async () => {
    const p = pipeline((ctx) => (ctx.stream ? streamReply(openAITextSse()) : jsonReply(COMPLETION)));
    const requests = [
      p.send(),
      p.send(streaming()),
      p.send(streaming({ stream_options: { include_usage: true } })),
      p.send({ caller: { user: 'x', team: 'red' } }),
      p.send({ body: { ...OPENAI_BODY, temperature: 0.9 } }),
      p.send({ body: { ...OPENAI_BODY, temperature: 0.9 } }),
    ];
    await tick();
    p.open();
    await Promise.all(requests.map(async (r) => readReply(await r.reply)));
    assert.equal(p.seen.length, 6);
    assert.equal(p.flight.joined(), 0);
  });

  it("gives followers the leader's error", async () => {
    const p = pipeline(() => {
      throw new SluiceError('upstream_error', 'provider said no', { status: 502 });
    });
    const requests = Array.from({ length: 4 }, () => p.send());
    await tick();
    p.open();
    const outcomes = await Promise.allSettled(requests.map((r) => r.reply));
    assert.equal(p.seen.length, 1);
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.match(String((outcome as PromiseRejectedResult).reason), /provider said no/);
    }
    assert.equal(p.flight.inFlight(), 0);
  });

  it("followers go on their own when the leader's client hung up", async () => {
    let calls = 0;
    const p = pipeline(() => {
      calls++;
      if (calls === 1) throw new SluiceError('client_closed', 'client closed the connection');
      return jsonReply(COMPLETION);
    });
    const requests = Array.from({ length: 3 }, () => p.send());
    await tick();
    p.open();
    const outcomes = await Promise.allSettled(requests.map((r) => r.reply));
    assert.equal(outcomes[0].status, 'rejected');
    assert.deepEqual(
      outcomes.slice(1).map((o) => o.status),
      ['fulfilled', 'fulfilled'],
    );
    assert.equal(calls, 3);
  });

  it('aborts the shared upstream signal only when every client has left', async () => {
    const p = pipeline();
    const leaderAbort = new AbortController();
    const followerAbort = new AbortController();
    const leader = p.send({ signal: leaderAbort.signal });
    const follower = p.send({ signal: followerAbort.signal });
    await tick();
    const flightSignal = p.seen[0].upstreamSignal as AbortSignal;
    leaderAbort.abort();
    assert.equal(flightSignal.aborted, false, 'the follower still wants the answer');
    followerAbort.abort();
    await assert.rejects(follower.reply, /client closed/);
    assert.equal(flightSignal.aborted, true);
    p.open();
    await leader.reply;
  });

  it('aborts the shared signal when every reader of a stream has left', async () => {
    const p = pipeline(() => streamReply(openAITextSse(), { delayMs: 1 }));
    const a = p.send(streaming());
    const b = p.send(streaming());
    await tick();
    p.open();
    const flightSignal = p.seen[0].upstreamSignal as AbortSignal;
    for (const request of [a, b]) {
      const reply = await request.reply;
      for await (const _ of (reply as { chunks: AsyncIterable<Uint8Array> }).chunks) break;
    }
    assert.equal(flightSignal.aborted, true);
  });

  it('a follower stops waiting at its own deadline', async () => {
    const p = pipeline();
    const leader = p.send();
    const follower = p.send({ timeoutMs: 20 });
    await assert.rejects(follower.reply, (e) => e instanceof SluiceError && e.code === 'upstream_timeout');
    p.open();
    assert.equal(JSON.parse(await readReply(await leader.reply)).id, 'chatcmpl-1');
  });
});
