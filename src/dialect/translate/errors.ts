/**
 * An upstream's error body in its dialect → the body the client's dialect expects. The status
 * is the upstream's (the client's SDK decides on retries from it); the type is re-derived from
 * it where the dialects name types differently, and the original type rides along as `code`.
 */
import { isRecord, type Json, str, type WireDialect } from './json.js';

const ANTHROPIC_TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const OPENAI_TYPE_BY_ANTHROPIC_TYPE: Readonly<Record<string, string>> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  not_found_error: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  rate_limit_error: 'rate_limit_error',
  billing_error: 'insufficient_quota',
  timeout_error: 'timeout',
  overloaded_error: 'service_unavailable',
  api_error: 'api_error',
};

export function anthropicErrorType(status: number): string {
  return ANTHROPIC_TYPE_BY_STATUS[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** The upstream's message, or a plain sentence when the body said nothing readable. */
function messageOf(
  body: unknown,
  status: number,
): { message: string; type: string; param: unknown; code: unknown } {
  const error = isRecord(body) && isRecord(body.error) ? body.error : undefined;
  const message = str(error?.message) || (typeof body === 'string' && body.trim() ? body.trim() : '');
  return {
    message: message || `upstream answered ${status}`,
    type: str(error?.type),
    param: error?.param ?? null,
    code: error?.code ?? null,
  };
}

/**
 * `body` is the upstream's parsed error (or its raw text when not JSON). Returns the error
 * object the client's SDK parses.
 */
export function translateErrorBody(
  upstream: WireDialect,
  client: WireDialect,
  status: number,
  body: unknown,
): Json {
  const { message, type, param, code } = messageOf(body, status);
  if (client === 'anthropic') {
    return { type: 'error', error: { type: anthropicErrorType(status), message } };
  }
  const openaiType =
    upstream === 'anthropic'
      ? (OPENAI_TYPE_BY_ANTHROPIC_TYPE[type] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'))
      : type;
  return {
    error: {
      message,
      type: openaiType,
      param: upstream === 'openai' ? param : null,
      code: upstream === 'anthropic' ? type || null : code,
    },
  };
}
