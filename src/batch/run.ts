import { isSluiceError } from '../errors.js';
import { AdaptiveConcurrency } from './adaptive.js';

/**
 * Run many calls with bounded concurrency; results come back in input order, one per item,
 * each either a value or that item's own error (one failure never fails the batch).
 *
 * Backpressure: when `backpressureOf` says a finished call was refused as "too busy", the
 * item goes back to the front of the line, new starts pause for the refusal's Retry-After and
 * the concurrency halves (see adaptive.ts); successes raise it again. An item is given up on
 * after `maxAttempts` such refusals, and its last refusal is its result.
 */

export interface BatchError {
  message: string;
  code?: string;
  status?: number;
}

export type BatchResult<R> = { ok: true; value: R } | { ok: false; error: BatchError };

export interface BatchProgress {
  done: number;
  failed: number;
  total: number;
}

/** A refusal worth retrying later: the gateway or provider is busy, not the request wrong. */
export interface Backpressure {
  /** The wait the refusal asked for (Retry-After), if it named one. */
  retryAfterMs?: number;
}

export interface BackpressureEvent {
  index: number;
  /** Attempts made so far for this item. */
  attempts: number;
  /** Whether the item will be tried again (false: out of attempts, or the run is stopping). */
  retrying: boolean;
  /** The concurrency after this refusal. */
  limit: number;
  retryAfterMs?: number;
}

export interface RunBatchOptions<R> {
  /** Calls in flight at once (>= 1); the ceiling when backpressure lowers it. */
  concurrency: number;
  onProgress?: (progress: BatchProgress) => void;
  /** Each result as soon as it is known (in completion order); must not throw. */
  onResult?: (index: number, result: BatchResult<R>) => void;
  /**
   * Aborting stops starting new items; calls in flight finish. Items never started come
   * back as `{ ok: false, error: { code: 'cancelled' } }` and are not passed to onResult.
   */
  signal?: AbortSignal;
  /** Classifies a finished call: a Backpressure means "retry later", undefined means final. */
  backpressureOf?: (result: BatchResult<R>) => Backpressure | undefined;
  /** Attempts per item, the first included, while it meets backpressure (default 10). */
  maxAttempts?: number;
  /** Successes in a row that raise the concurrency by one (default 10). */
  increaseEvery?: number;
  /** Pause after a refusal that names no Retry-After (default 1000 ms). */
  defaultRetryAfterMs?: number;
  onBackpressure?: (event: BackpressureEvent) => void;
}

export const CANCELLED: BatchResult<never> = Object.freeze({
  ok: false,
  error: Object.freeze({ message: 'not run: the batch was cancelled', code: 'cancelled' }),
});

export const DEFAULT_MAX_ATTEMPTS = 10;

export async function runBatch<T, R>(
  items: readonly T[],
  send: (item: T, index: number) => Promise<R>,
  options: RunBatchOptions<R>,
): Promise<BatchResult<R>[]> {
  const { onProgress, onResult, signal, backpressureOf, onBackpressure } = options;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new TypeError('maxAttempts must be an integer >= 1');
  const control = new AdaptiveConcurrency({
    ceiling: options.concurrency,
    increaseEvery: options.increaseEvery,
    defaultRetryAfterMs: options.defaultRetryAfterMs,
  });
  const results = new Array<BatchResult<R>>(items.length);
  const progress: BatchProgress = { done: 0, failed: 0, total: items.length };
  const waiting: number[] = items.map((_, i) => i);
  const attempts = new Array<number>(items.length).fill(0);
  let inFlight = 0;
  let pauseTimer: NodeJS.Timeout | undefined;

  await new Promise<void>((resolve) => {
    const finishIfIdle = () => {
      if (inFlight > 0 || (waiting.length > 0 && !signal?.aborted)) return false;
      if (pauseTimer !== undefined) clearTimeout(pauseTimer);
      signal?.removeEventListener('abort', onAbort);
      resolve();
      return true;
    };
    const pump = () => {
      while (!signal?.aborted && waiting.length > 0 && inFlight < control.limit) {
        const pauseMs = control.pauseRemainingMs();
        if (pauseMs > 0) {
          if (pauseTimer === undefined) {
            pauseTimer = setTimeout(() => {
              pauseTimer = undefined;
              pump();
            }, pauseMs);
          }
          break;
        }
        start(waiting.shift()!);
      }
      finishIfIdle();
    };
    const start = (index: number) => {
      inFlight++;
      attempts[index]++;
      const round = control.round;
      const call = async () => send(items[index], index);
      call().then(
        (value) => settle(index, round, { ok: true, value }),
        (error: unknown) => settle(index, round, { ok: false, error: toBatchError(error) }),
      );
    };
    const settle = (index: number, round: number, result: BatchResult<R>) => {
      inFlight--;
      const busy = backpressureOf?.(result);
      if (busy === undefined) {
        if (result.ok) control.success();
      } else {
        control.backpressure(round, busy.retryAfterMs);
        const retrying = attempts[index] < maxAttempts && !signal?.aborted;
        onBackpressure?.({
          index,
          attempts: attempts[index],
          retrying,
          limit: control.limit,
          retryAfterMs: busy.retryAfterMs,
        });
        if (retrying) {
          // First in line again: the oldest work finishes first, as a resume would expect.
          waiting.unshift(index);
          pump();
          return;
        }
        // Stopping: left without a result, so a resumed run sends it again.
        if (signal?.aborted) {
          pump();
          return;
        }
      }
      results[index] = result;
      if (!result.ok) progress.failed++;
      progress.done++;
      onResult?.(index, result);
      onProgress?.({ ...progress });
      pump();
    };
    const onAbort = () => finishIfIdle();
    signal?.addEventListener('abort', onAbort, { once: true });
    pump();
  });
  for (let i = 0; i < results.length; i++) if (results[i] === undefined) results[i] = CANCELLED;
  return results;
}

export function toBatchError(error: unknown): BatchError {
  if (isSluiceError(error)) return { message: error.message, code: error.code, status: error.status };
  if (error instanceof Error) {
    const { code, status } = error as Error & { code?: unknown; status?: unknown };
    return {
      message: error.message,
      code: typeof code === 'string' ? code : undefined,
      status: typeof status === 'number' ? status : undefined,
    };
  }
  return { message: String(error) };
}
