import { SluiceError } from '../errors.js';
import { afterReply } from '../pipeline/reply.js';
import type { Stage } from '../pipeline/types.js';

/**
 * Graceful shutdown: stop accepting (new requests get 503 `shutting_down`), let the requests
 * already accepted (in flight or queued) finish within a grace period, then exit.
 */
export class DrainTracker {
  #accepting = true;
  #active = 0;
  #idle: Array<() => void> = [];

  get accepting(): boolean {
    return this.#accepting;
  }
  /** Requests accepted and not finished (queued, in flight, or streaming). */
  get active(): number {
    return this.#active;
  }

  /** Count one accepted request; call the returned function (once) when it is finished. */
  begin(): () => void {
    this.#active++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.#active === 0) this.#wakeIdle();
    };
  }

  stopAccepting(): void {
    this.#accepting = false;
  }

  /**
   * Stop accepting and wait until every accepted request is finished or `graceMs` passed.
   * `drained` false means requests were still running when the grace period ended.
   */
  drain(graceMs: number): Promise<{ drained: boolean; active: number }> {
    this.stopAccepting();
    if (this.#active === 0) return Promise.resolve({ drained: true, active: 0 });
    return new Promise((resolve) => {
      const onIdle = () => {
        clearTimeout(timer);
        resolve({ drained: true, active: 0 });
      };
      const timer = setTimeout(() => {
        this.#idle = this.#idle.filter((f) => f !== onIdle);
        resolve({ drained: false, active: this.#active });
      }, graceMs);
      this.#idle.push(onIdle);
    });
  }

  #wakeIdle(): void {
    const waiters = this.#idle;
    this.#idle = [];
    for (const wake of waiters) wake();
  }
}

/**
 * The first stage of the pipeline: refuses new requests while shutting down and counts the
 * accepted ones until their reply is delivered (a stream to its end or the client's leaving).
 */
export function shutdownStage(tracker: DrainTracker): Stage {
  return async (ctx, next) => {
    if (!tracker.accepting) {
      throw new SluiceError('shutting_down', 'the gateway is shutting down; retry on another instance', {
        retryAfterSeconds: 1,
        headers: { connection: 'close', 'retry-after': '1' },
      });
    }
    const finish = tracker.begin();
    let reply: Awaited<ReturnType<Stage>>;
    try {
      reply = await next();
    } catch (error) {
      finish();
      throw error;
    }
    if (reply.kind === 'json') {
      finish();
      return reply;
    }
    const onAbort = () => finish();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    return afterReply(reply, () => {
      ctx.signal.removeEventListener('abort', onAbort);
      finish();
    });
  };
}

export interface TerminationOptions {
  tracker: DrainTracker;
  graceMs: number;
  /**
   * Stop listening for new connections (e.g. `() => { server.close(); }`); runs before the
   * drain, so it must not wait for open connections to end.
   */
  stopListening?: () => void | Promise<void>;
  /** Release resources after the drain (pools, stores); its errors are reported, not thrown. */
  close?: () => void | Promise<void>;
  /** Defaults to process.exit. */
  exit?: (code: number) => void;
  log?: (message: string) => void;
  signals?: readonly NodeJS.Signals[];
}

/**
 * Install SIGTERM/SIGINT handling: drain within the grace period, close, exit 0 (1 when work
 * was cut off). A second signal exits at once. Returns a function that uninstalls it.
 */
export function handleTermination(options: TerminationOptions): () => void {
  const { tracker, graceMs, stopListening, close, log = () => {} } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let stopping = false;

  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: exiting now with ${tracker.active} request(s) unfinished`);
      exit(1);
      return;
    }
    stopping = true;
    log(`${signal}: no longer accepting; draining ${tracker.active} request(s) for up to ${graceMs} ms`);
    tracker.stopAccepting();
    let code = 0;
    try {
      await stopListening?.();
      const result = await tracker.drain(graceMs);
      if (!result.drained) {
        log(`grace period over with ${result.active} request(s) unfinished`);
        code = 1;
      }
      await close?.();
    } catch (error) {
      log(`shutdown error: ${error instanceof Error ? error.message : String(error)}`);
      code = 1;
    }
    exit(code);
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
