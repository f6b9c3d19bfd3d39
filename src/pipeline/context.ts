import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Caller, Dialect, Priority, RequestContext, RouteName } from './types.js';

export interface ContextInit {
  dialect: Dialect;
  route: RouteName;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  signal: AbortSignal;
  /** Gateway-wide request timeout; `x-sluice-timeout-ms` may shorten it, never lengthen it. */
  timeoutMs: number;
  id?: string;
}

const PRIORITIES: ReadonlySet<string> = new Set(['high', 'normal', 'low']);

export function createContext(init: ContextInit): RequestContext {
  const { headers, body } = init;
  const now = Date.now();
  const timeoutMs = effectiveTimeoutMs(headers, init.timeoutMs);
  const priorityHeader = headers['x-sluice-priority'];
  const model = typeof body.model === 'string' ? body.model : '';
  return {
    id: init.id ?? (typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : randomUUID()),
    dialect: init.dialect,
    route: init.route,
    headers,
    body,
    stream: body.stream === true,
    requestedModel: model,
    model,
    caller: callerFromRequest(headers, body),
    priority:
      typeof priorityHeader === 'string' && PRIORITIES.has(priorityHeader)
        ? (priorityHeader as Priority)
        : 'normal',
    deadline: now + timeoutMs,
    signal: init.signal,
    startedAt: now,
    responseHeaders: {},
    cache: 'bypass',
    notes: new Map(),
  };
}

/** The gateway's timeout, shortened (never lengthened) by the client's `x-sluice-timeout-ms`. */
export function effectiveTimeoutMs(headers: IncomingHttpHeaders, gatewayTimeoutMs: number): number {
  const asked = Number(headers['x-sluice-timeout-ms']);
  return asked > 0 ? Math.min(asked, gatewayTimeoutMs) : gatewayTimeoutMs;
}

/** Without virtual keys, the caller is who the request says it is (x-sluice-user, else body.user). */
function callerFromRequest(headers: IncomingHttpHeaders, body: Record<string, unknown>): Caller {
  const header = headers['x-sluice-user'];
  if (typeof header === 'string' && header) return { user: header };
  if (typeof body.user === 'string' && body.user) return { user: body.user };
  const metadata = body.metadata as { user_id?: unknown } | undefined;
  if (typeof metadata?.user_id === 'string' && metadata.user_id) return { user: metadata.user_id };
  return { user: 'anonymous' };
}
