import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamKind } from '../config/index.js';
import type { RouteName } from '../pipeline/types.js';

/** What differs between provider kinds, as data: paths, auth, and which headers cross the gateway. */
interface ProviderSpec {
  paths: Partial<Record<RouteName, string>>;
  authHeaders(key: string): Record<string, string>;
  /** Client headers forwarded upstream as they are (API versions and betas, never credentials). */
  forwardedRequestHeaders: readonly string[];
  defaultHeaders: Readonly<Record<string, string>>;
}

export const PROVIDERS: Readonly<Record<UpstreamKind, ProviderSpec>> = {
  openai: {
    paths: {
      chat: '/chat/completions',
      embeddings: '/embeddings',
      completions: '/completions',
      responses: '/responses',
    },
    authHeaders: (key) => ({ authorization: `Bearer ${key}` }),
    forwardedRequestHeaders: ['openai-organization', 'openai-project', 'openai-beta'],
    defaultHeaders: {},
  },
  anthropic: {
    paths: { messages: '/messages' },
    authHeaders: (key) => ({ 'x-api-key': key }),
    forwardedRequestHeaders: ['anthropic-version', 'anthropic-beta'],
    defaultHeaders: { 'anthropic-version': '2023-06-01' },
  },
};

/**
 * The path prefix requests to an upstream start with. An OpenAI base URL carries its API prefix
 * (`…/v1`, as the OpenAI SDK's does). An Anthropic base URL is taken with or without `/v1`: the
 * Anthropic SDK's base URL has none and adds `/v1/messages` itself, so people copy it either way.
 */
export function apiBasePath(kind: UpstreamKind, baseUrl: string): string {
  const path = new URL(baseUrl).pathname.replace(/\/+$/, '');
  if (kind === 'anthropic' && !path.endsWith('/v1')) return `${path}/v1`;
  return path;
}

/** Upstream response headers worth passing to the client (rate-limit state, retry hints). */
export function isForwardedResponseHeader(name: string): boolean {
  return (
    name === 'retry-after' ||
    name === 'retry-after-ms' ||
    name.startsWith('x-ratelimit-') ||
    name.startsWith('anthropic-ratelimit-')
  );
}

const TRACE_CONTEXT_HEADERS = ['traceparent', 'tracestate'] as const;

export function buildUpstreamHeaders(
  kind: UpstreamKind,
  clientHeaders: IncomingHttpHeaders,
  apiKey: string | undefined,
  extra: Readonly<Record<string, string>>,
  forwardPrefixes: readonly string[],
): Record<string, string> {
  const spec = PROVIDERS[kind];
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...spec.defaultHeaders,
    ...extra,
  };
  for (const name of spec.forwardedRequestHeaders) {
    const v = clientHeaders[name];
    if (typeof v === 'string') headers[name] = v;
  }
  // W3C trace context passes through; with tracing on, the attempt's own span replaces the parent id.
  for (const name of TRACE_CONTEXT_HEADERS) {
    const v = clientHeaders[name];
    if (typeof v === 'string') headers[name] = v;
  }
  if (forwardPrefixes.length > 0) {
    for (const name in clientHeaders) {
      const v = clientHeaders[name];
      if (typeof v === 'string' && forwardPrefixes.some((p) => name.startsWith(p))) headers[name] = v;
    }
  }
  if (apiKey) Object.assign(headers, spec.authHeaders(apiKey));
  return headers;
}
