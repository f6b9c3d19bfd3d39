import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SluiceError } from '../errors.js';
import type { Delivery } from './delivery.js';
import { ReplyEvents } from './stream-observer.js';
import type { Caller, Dialect, Priority, RequestContext, RouteName } from './types.js';

export interface ContextInit {
  dialect: Dialect;
  route: RouteName;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** The bytes `body` was parsed from, when it came over HTTP: forwarded as they are if no stage changes the body. */
  rawBody?: Uint8Array;
  signal: AbortSignal;
  /** Gateway-wide request timeout; `x-sluice-timeout-ms` may shorten it, never lengthen it. */
  timeoutMs: number;
  id?: string;
  /** The HTTP edge's report of what the client got; absent for in-process calls. */
  delivery?: Delivery;
}

const PRIORITIES: ReadonlySet<string> = new Set(['high', 'normal', 'low']);

export function createContext(init: ContextInit): RequestContext {
  const { headers, body } = init;
  const now = Date.now();
  const timeoutMs = effectiveTimeoutMs(headers, init.timeoutMs);
  wholeNumberHeader(headers, 'x-sluice-cache-ttl');
  const model = typeof body.model === 'string' ? body.model : '';
  return {
    id: init.id ?? (typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : randomUUID()),
    dialect: init.dialect,
    route: init.route,
    headers,
    body,
    clientBody: body,
    stream: body.stream === true,
    requestedModel: model,
    model,
    caller: callerFromRequest(headers, body),
    priority: priorityOf(headers['x-sluice-priority']),
    deadline: now + timeoutMs,
    signal: init.signal,
    startedAt: now,
    responseHeaders: {},
    cache: 'bypass',
    virtualKey: undefined,
    cacheKey: undefined,
    savedUsage: undefined,
    flightFollower: undefined,
    queueWaitMs: undefined,
    usageSoFar: undefined,
    observation: undefined,
    promptPrefix: undefined,
    promptCount: undefined,
    sideCost: undefined,
    replyEvents: new ReplyEvents(),
    ...(init.rawBody ? { rawBody: init.rawBody } : {}),
    ...(init.delivery ? { delivery: init.delivery } : {}),
  };
}

/** `x-sluice-priority`; a value that is not a priority is the client's error, not silently `normal`. */
function priorityOf(header: string | string[] | undefined): Priority {
  if (header === undefined) return 'normal';
  const value = String(header).trim().toLowerCase();
  if (PRIORITIES.has(value)) return value as Priority;
  throw new SluiceError('invalid_request', 'x-sluice-priority must be one of high, normal, low', {
    param: 'x-sluice-priority',
  });
}

/** The gateway's timeout, shortened (never lengthened) by the client's `x-sluice-timeout-ms`. */
export function effectiveTimeoutMs(headers: IncomingHttpHeaders, gatewayTimeoutMs: number): number {
  const asked = wholeNumberHeader(headers, 'x-sluice-timeout-ms');
  return asked !== undefined && asked > 0 ? Math.min(asked, gatewayTimeoutMs) : gatewayTimeoutMs;
}

/**
 * A header that must hold a whole number, checked where every request passes (also when the
 * stage that reads it is off): a malformed value is a 400 naming the header, never ignored.
 */
export function wholeNumberHeader(headers: IncomingHttpHeaders, name: string): number | undefined {
  const raw = headers[name];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw new SluiceError('invalid_request', `${name} must be a whole number, got '${text.slice(0, 40)}'`, {
      param: name,
    });
  }
  return Number(text);
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
