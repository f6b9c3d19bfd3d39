import { isSluiceError, SluiceError } from '../errors.js';
import { compositeKey } from '../store/composite-key.js';
import type { Next, Reply, RequestContext, Stage } from '../pipeline/types.js';
import { Broadcast } from './broadcast.js';
import { type FlightLeaseDeps, underFlightLease } from './flight-lease.js';
import { DIALECTS, ZERO_USAGE } from '../dialect/index.js';

export interface SingleFlightOptions {
  /**
   * The flight key of a request, or undefined to let it through alone. Default: the exact
   * cache's key (`cache.key` note, so only cacheable requests, scope included) plus the
   * stream flag and `include_usage`: requests collapse only when their replies would be
   * byte-for-byte the same shape.
   */
  keyOf?: (ctx: RequestContext) => string | undefined;
  /**
   * With a shared store (Redis): flights span instances (flight-lease.ts). Each instance's
   * local leader takes the request's lease or waits for the instance holding it.
   */
  shared?: FlightLeaseDeps;
}

export interface SingleFlightStage extends Stage {
  /** Flights in progress (for metrics and tests). */
  inFlight(): number;
  /** Requests that joined another's flight instead of going upstream. */
  joined(): number;
}

/**
 * Single-flight: identical cacheable requests in flight at the same time make one upstream
 * call. The first (leader) runs the rest of the pipeline; the others (followers) wait and get
 * the same answer: the same JSON bytes, or the same stream as it arrives (a follower that
 * joins mid-stream first gets what was already sent). A follower's `ctx.usage` is zero
 * (nothing billed) and `flight.follower` is noted.
 *
 * When the leader fails, followers get the same error, except when the leader's own client
 * went away (`client_closed`): then each follower runs the pipeline itself. A follower whose
 * own client leaves, or whose deadline passes, stops waiting.
 *
 * With `shared`, the local leader first takes the request's lease across instances; when
 * another instance holds it, the local flight's answer is that instance's stored answer.
 */
export function singleFlightStage(options: SingleFlightOptions = {}): SingleFlightStage {
  const keyOf = options.keyOf ?? defaultFlightKey;
  const { shared } = options;
  const flights = new Map<string, Flight>();
  let joined = 0;

  const stage = async (ctx: RequestContext, next: Next): Promise<Reply> => {
    const key = keyOf(ctx);
    if (key === undefined) return next();
    const existing = flights.get(key);
    if (existing) {
      joined++;
      return existing.follow(ctx, next);
    }
    const flight: Flight = new Flight(ctx, () => {
      if (flights.get(key) === flight) flights.delete(key);
    });
    flights.set(key, flight);
    return flight.lead(shared ? () => underFlightLease(ctx, next, shared) : next);
  };
  return Object.assign(stage, { inFlight: () => flights.size, joined: () => joined });
}

function defaultFlightKey(ctx: RequestContext): string | undefined {
  const cacheKey = ctx.cacheKey;
  if (cacheKey === undefined) return undefined;
  const usage = DIALECTS[ctx.dialect].wantsStreamUsage(ctx.body);
  return compositeKey('flight', cacheKey, ctx.stream ? 'stream' : 'json', usage ? 'usage' : 'no-usage');
}

type Outcome = { ok: true; reply: Reply; broadcast?: Broadcast } | { ok: false; error: unknown };

class Flight {
  readonly #leader: RequestContext;
  readonly #release: () => void;
  readonly #abort = new AbortController();
  readonly #outcome: Promise<Outcome>;
  #settle!: (outcome: Outcome) => void;
  #settled = false;
  /** Requests waiting for the answer whose client is still there (leader included). */
  #waiting = 0;
  readonly #unlisten = new Set<() => void>();

  constructor(leader: RequestContext, release: () => void) {
    this.#leader = leader;
    this.#release = release;
    this.#outcome = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  async lead(next: Next): Promise<Reply> {
    const ctx = this.#leader;
    ctx.upstreamSignal = this.#abort.signal;
    this.#enter(ctx.signal);
    let reply: Reply;
    try {
      reply = await next();
    } catch (error) {
      this.#release();
      this.#finish({ ok: false, error });
      throw error;
    }
    if (reply.kind === 'json') {
      this.#release();
      this.#finish({ ok: true, reply });
      return reply;
    }
    // From here on the readers of the stream are what keeps the upstream call alive.
    const broadcast = new Broadcast(reply.chunks, {
      onEnd: () => this.#release(),
      onAbandoned: () =>
        this.#abort.abort(new SluiceError('client_closed', 'every client of this flight left')),
    });
    this.#finish({ ok: true, reply, broadcast });
    return { ...reply, chunks: broadcast.subscribe() };
  }

  async follow(ctx: RequestContext, next: Next): Promise<Reply> {
    const outcome = await this.#awaitOutcome(ctx);
    if (!outcome.ok) {
      // The leader's client left and took the upstream call with it: try on our own.
      if (isSluiceError(outcome.error) && outcome.error.code === 'client_closed') return next();
      throw outcome.error;
    }
    ctx.flightFollower = true;
    ctx.usage = { ...ZERO_USAGE };
    if (this.#leader.upstream) ctx.upstream = this.#leader.upstream;
    for (const [name, value] of Object.entries(this.#leader.responseHeaders))
      ctx.responseHeaders[name] ??= value;
    const { reply, broadcast } = outcome;
    if (reply.kind === 'stream' && broadcast)
      return { ...reply, headers: { ...reply.headers }, chunks: broadcast.subscribe() };
    return { ...reply, headers: { ...reply.headers } };
  }

  #finish(outcome: Outcome): void {
    this.#settled = true;
    for (const unlisten of this.#unlisten) unlisten();
    this.#unlisten.clear();
    this.#settle(outcome);
  }

  /** Count a waiting request; when every waiter's client has gone, abort the upstream call. */
  #enter(signal: AbortSignal): () => void {
    this.#waiting++;
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      signal.removeEventListener('abort', leave);
      this.#unlisten.delete(unlisten);
      if (--this.#waiting === 0 && !this.#settled) {
        this.#abort.abort(new SluiceError('client_closed', 'every client of this flight left'));
      }
    };
    const unlisten = () => signal.removeEventListener('abort', leave);
    signal.addEventListener('abort', leave, { once: true });
    this.#unlisten.add(unlisten);
    if (signal.aborted) leave();
    return leave;
  }

  /** Wait for the leader's outcome, unless this follower's client leaves or its deadline passes. */
  async #awaitOutcome(ctx: RequestContext): Promise<Outcome> {
    const leave = this.#enter(ctx.signal);
    try {
      return await new Promise<Outcome>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          ctx.signal.removeEventListener('abort', onAbort);
        };
        const timer = setTimeout(
          () => {
            done();
            reject(new SluiceError('upstream_timeout', 'deadline passed waiting for an identical request'));
          },
          Math.max(0, ctx.deadline - Date.now()),
        );
        const onAbort = () => {
          done();
          reject(new SluiceError('client_closed', 'client closed the connection'));
        };
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        if (ctx.signal.aborted) onAbort();
        this.#outcome.then((outcome) => {
          done();
          resolve(outcome);
        });
      });
    } finally {
      leave();
    }
  }
}
