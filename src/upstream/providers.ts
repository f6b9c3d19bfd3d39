import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamKind } from '../config/index.js';
import { DIALECTS, type ProviderWire } from '../dialect/index.js';

/**
 * Each upstream kind speaks one dialect natively; its paths, auth and forwarded headers are
 * that dialect's `provider` (src/dialect/).
 */
export const PROVIDERS: Readonly<Record<UpstreamKind, ProviderWire>> = {
  openai: DIALECTS.openai.provider,
  anthropic: DIALECTS.anthropic.provider,
};

/** The path prefix requests to an upstream start with. */
export function apiBasePath(kind: UpstreamKind, baseUrl: string): string {
  return PROVIDERS[kind].apiBasePath(baseUrl);
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
