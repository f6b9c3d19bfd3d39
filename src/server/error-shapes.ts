import type { ErrorCode, SluiceError } from '../errors.js';
import type { Dialect } from '../pipeline/types.js';

const OPENAI_TYPE = {
  invalid_json: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  model_not_found: 'invalid_request_error',
  not_found: 'invalid_request_error',
  payload_too_large: 'invalid_request_error',
  unsupported_media_type: 'invalid_request_error',
  request_timeout: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  queue_full: 'rate_limit_error',
  budget_exceeded: 'insufficient_quota',
  shutting_down: 'service_unavailable',
  circuit_open: 'service_unavailable',
  store_unavailable: 'service_unavailable',
  upstream_unreachable: 'api_error',
  upstream_timeout: 'timeout',
  queue_timeout: 'timeout',
  deadline_unreachable: 'timeout',
  upstream_error: 'api_error',
  client_closed: 'api_error',
  internal: 'api_error',
} as const satisfies Record<ErrorCode, string>;

const ANTHROPIC_TYPE = {
  invalid_json: 'invalid_request_error',
  invalid_request: 'invalid_request_error',
  unauthorized: 'authentication_error',
  forbidden: 'permission_error',
  model_not_found: 'not_found_error',
  not_found: 'not_found_error',
  payload_too_large: 'request_too_large',
  unsupported_media_type: 'invalid_request_error',
  request_timeout: 'timeout_error',
  rate_limited: 'rate_limit_error',
  queue_full: 'rate_limit_error',
  budget_exceeded: 'rate_limit_error',
  shutting_down: 'overloaded_error',
  circuit_open: 'overloaded_error',
  store_unavailable: 'api_error',
  upstream_unreachable: 'api_error',
  upstream_timeout: 'timeout_error',
  queue_timeout: 'timeout_error',
  deadline_unreachable: 'timeout_error',
  upstream_error: 'api_error',
  client_closed: 'api_error',
  internal: 'api_error',
} as const satisfies Record<ErrorCode, string>;

/**
 * The error body a client of `dialect` expects (the Responses API answers errors in OpenAI's
 * shape). Extra details ride along in the error object.
 */
export function errorBody(dialect: Dialect, e: SluiceError): Record<string, unknown> {
  const details = e.extra.details ?? {};
  if (dialect === 'anthropic') {
    return {
      type: 'error',
      error: { type: ANTHROPIC_TYPE[e.code], message: e.message, code: e.code, ...details },
    };
  }
  return {
    error: {
      message: e.message,
      type: OPENAI_TYPE[e.code],
      param: e.extra.param ?? null,
      code: e.code,
      ...details,
    },
  };
}

/** The same error as one SSE event, for failures after a stream has started. */
export function errorEvent(dialect: Dialect, e: SluiceError): string {
  const body = errorBody(dialect, e);
  if (dialect === 'responses') {
    // The Responses API's typed `error` event: code, message and param at the top level (the
    // SDK's ResponseErrorEvent) and the error object under `error`, as the API also sends it.
    // The edge does not count the events before it, so its sequence number is 0.
    const error = body.error as Record<string, unknown>;
    const event = {
      type: 'error',
      sequence_number: 0,
      code: e.code,
      message: e.message,
      param: error.param,
      error,
    };
    return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
  }
  return dialect === 'anthropic'
    ? `event: error\ndata: ${JSON.stringify(body)}\n\n`
    : `data: ${JSON.stringify(body)}\n\n`;
}

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
