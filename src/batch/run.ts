import { isSluiceError } from '../errors.js';

/**
 * Run many calls with bounded concurrency; results come back in input order, one per item,
 * each either a value or that item's own error (one failure never fails the batch).
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

export interface RunBatchOptions<R> {
  /** Calls in flight at once (>= 1). */
  concurrency: number;
  onProgress?: (progress: BatchProgress) => void;
  /** Each result as soon as it is known (in completion order); must not throw. */
  onResult?: (index: number, result: BatchResult<R>) => void;
  /**
   * Aborting stops starting new items; calls in flight finish. Items never started come
   * back as `{ ok: false, error: { code: 'cancelled' } }` and are not passed to onResult.
   */
  signal?: AbortSignal;
}

export const CANCELLED: BatchResult<never> = Object.freeze({
  ok: false,
  error: Object.freeze({ message: 'not run: the batch was cancelled', code: 'cancelled' }),
});

export async function runBatch<T, R>(
  items: readonly T[],
  send: (item: T, index: number) => Promise<R>,
  options: RunBatchOptions<R>,
): Promise<BatchResult<R>[]> {
  const { concurrency, onProgress, onResult, signal } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new TypeError('concurrency must be an integer >= 1');
  const results = new Array<BatchResult<R>>(items.length);
  const progress: BatchProgress = { done: 0, failed: 0, total: items.length };
  let nextIndex = 0;

  const worker = async () => {
    while (nextIndex < items.length && !signal?.aborted) {
      const index = nextIndex++;
      let result: BatchResult<R>;
      try {
        result = { ok: true, value: await send(items[index], index) };
      } catch (error) {
        result = { ok: false, error: toBatchError(error) };
        progress.failed++;
      }
      results[index] = result;
      progress.done++;
      onResult?.(index, result);
      onProgress?.({ ...progress });
    }
  };

  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
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
