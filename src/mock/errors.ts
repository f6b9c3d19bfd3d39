/** The two wire dialects the mock speaks; errors take the shape of the route's dialect. */
export type Dialect = 'openai' | 'anthropic';

/** An error before it is shaped: status, message and (OpenAI) param/code. */
export interface ErrorSpec {
  status: number;
  message: string;
  param?: string | null;
  code?: string | null;
  headers?: Record<string, string>;
}

// OpenAI's `type` per status. Upstream a 429's type names the limit hit (`requests`,
// `tokens`); the mock says `rate_limit_error` as the project's brief asks, and keeps
// upstream's `code: rate_limit_exceeded`. Clients should key on status and code, not type.
function openAIType(status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function openAICode(status: number): string | null {
  if (status === 401) return 'invalid_api_key';
  if (status === 429) return 'rate_limit_exceeded';
  return null;
}

// https://docs.anthropic.com/en/api/errors
function anthropicType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 503:
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

const DEFAULT_MESSAGE: Record<number, string> = {
  401: 'Incorrect API key provided.',
  429: 'Rate limit reached for requests. Please try again later.',
  500: 'The server had an error while processing your request. Sorry about that!',
  502: 'Bad gateway.',
  503: 'The server is overloaded, please try again later.',
  529: 'Overloaded',
};

export function defaultMessage(status: number): string {
  return DEFAULT_MESSAGE[status] ?? `Simulated error ${status}.`;
}

/** The JSON body of an error in `dialect`'s shape. */
export function errorBody(dialect: Dialect, e: ErrorSpec): string {
  if (dialect === 'anthropic') {
    return JSON.stringify({ type: 'error', error: { type: anthropicType(e.status), message: e.message } });
  }
  return JSON.stringify({
    error: {
      message: e.message,
      type: openAIType(e.status),
      param: e.param ?? null,
      code: e.code === undefined ? openAICode(e.status) : e.code,
    },
  });
}
