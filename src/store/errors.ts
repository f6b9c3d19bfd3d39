import { SluiceError } from '../errors.js';

/** Seconds a client is told to wait before retrying when the shared store is away. */
export const STORE_RETRY_AFTER_SECONDS = 2;

/**
 * The shared store (Redis) could not answer: not connected, timed out, loading after a
 * restart. Store methods throw this instead of the client's own errors, so callers can tell
 * "the store is away" from a bug. It is a `SluiceError` (503 `store_unavailable` with a
 * Retry-After), so a caller that does not handle it still answers the client correctly.
 */
export class StoreUnavailableError extends SluiceError {
  /**
   * The command may have reached the store and may still run there (it timed out, or the
   * connection closed while it was in flight); false when it was never sent.
   */
  readonly maybeApplied: boolean;

  constructor(message: string, options: { cause?: unknown; maybeApplied?: boolean } = {}) {
    super('store_unavailable', message, {
      cause: options.cause,
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    });
    this.name = 'StoreUnavailableError';
    this.maybeApplied = options.maybeApplied ?? false;
  }
}

export const isStoreUnavailable = (error: unknown): error is StoreUnavailableError =>
  error instanceof StoreUnavailableError;

/**
 * A feature's own refusal when its store is away, e.g. "rate limits cannot be checked": the
 * client learns which check failed, not just that some store did.
 */
export function storeRefusal(what: string, cause: unknown): SluiceError {
  return new SluiceError(
    'store_unavailable',
    `${what} cannot be checked right now: the shared store is unavailable. Retry in a few seconds.`,
    { cause, retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
  );
}
