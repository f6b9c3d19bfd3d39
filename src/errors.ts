/**
 * One error type for the whole gateway. The wire shape (OpenAI or Anthropic JSON) is chosen
 * at the edge, by the client's dialect (`src/dialect/`: `errorBody`, `errorEvent`); code here only says what went wrong.
 */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'model_not_found'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'request_timeout'
  | 'rate_limited'
  | 'queue_full'
  | 'budget_exceeded'
  | 'shutting_down'
  | 'circuit_open'
  | 'store_unavailable'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'queue_timeout'
  | 'deadline_unreachable'
  | 'upstream_error'
  | 'client_closed'
  | 'internal';

const STATUS = {
  invalid_json: 400,
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  model_not_found: 404,
  not_found: 404,
  payload_too_large: 413,
  unsupported_media_type: 415,
  request_timeout: 408,
  rate_limited: 429,
  queue_full: 429,
  budget_exceeded: 429,
  shutting_down: 503,
  circuit_open: 503,
  store_unavailable: 503,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  queue_timeout: 504,
  deadline_unreachable: 504,
  upstream_error: 502,
  client_closed: 499,
  internal: 500,
} as const satisfies Record<ErrorCode, number>;

export interface SluiceErrorExtra {
  cause?: unknown;
  /** Overrides the code's default status (upstream errors pass the provider's status through). */
  status?: number;
  retryAfterSeconds?: number;
  /**
   * False for refusals that waiting cannot cure (a spent budget): the edge sends
   * `x-should-retry: false`, which the official OpenAI and Anthropic SDKs obey, and no Retry-After.
   */
  retryable?: boolean;
  param?: string | null;
  /** Extra response headers (e.g. x-ratelimit-*). */
  headers?: Record<string, string>;
  /** The upstream's own error body, passed through untouched when the dialect matches. */
  upstreamBody?: unknown;
  /** Extra fields merged into the error object (e.g. budget scope, limit, spent). */
  details?: Record<string, unknown>;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly extra: SluiceErrorExtra;
  constructor(code: ErrorCode, message: string, extra: SluiceErrorExtra = {}) {
    super(message, { cause: extra.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.extra = extra;
  }
  get status(): number {
    return this.extra.status ?? STATUS[this.code];
  }
}

export const isSluiceError = (e: unknown): e is SluiceError => e instanceof SluiceError;

/**
 * Response headers that belong to an error whatever the dialect: its own extra headers, an
 * honest Retry-After when waiting helps, and `x-should-retry: false` when it cannot.
 */
export function errorHeaders(e: SluiceError): Record<string, string> {
  const headers: Record<string, string> = { ...(e.extra.headers ?? {}) };
  if (e.extra.retryable === false) {
    delete headers['retry-after'];
    headers['x-should-retry'] = 'false';
  } else if (e.extra.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(Math.ceil(e.extra.retryAfterSeconds));
  }
  return headers;
}
