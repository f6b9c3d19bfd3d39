import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.js';
import { errorHeaders, isSluiceError, SluiceError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { createContext } from '../pipeline/context.js';
import { Delivery } from '../pipeline/delivery.js';
import type { Dialect, Reply, RequestContext, RouteName } from '../pipeline/types.js';
import { requireJsonContentType } from './content-type.js';
import { corsHandler } from './cors.js';
import { headerValue, safeHeaders } from '../pipeline/header-value.js';
import { validateBody } from '../dialect/validate.js';
import { DIALECTS } from '../dialect/index.js';
import { RouteReply } from './route-reply.js';

interface ApiRoute {
  dialect: Dialect;
  route: RouteName;
}

const API_ROUTES: ReadonlyMap<string, ApiRoute> = new Map([
  ['/v1/chat/completions', { dialect: 'openai', route: 'chat' }],
  ['/v1/messages', { dialect: 'anthropic', route: 'messages' }],
  ['/v1/embeddings', { dialect: 'openai', route: 'embeddings' }],
  ['/v1/completions', { dialect: 'openai', route: 'completions' }],
  ['/v1/responses', { dialect: 'responses', route: 'responses' }],
]);

const DEADLINE_BACKSTOP_MS = 25;

/**
 * A route outside the pipeline (health, models, stats, admin), keyed `METHOD path`. Returns a
 * JSON-able value (sent 200), or a `RouteReply` to choose the status and headers.
 */
export type ExtraRoute = (req: IncomingMessage, url: URL) => Promise<unknown> | unknown;

/** A route's answer sent as it is rather than as JSON (the dashboard's page and its assets). */
export class RawReply {
  constructor(
    readonly body: Buffer,
    readonly headers: Record<string, string>,
    readonly status = 200,
  ) {}
}

export interface HttpServerOptions {
  /**
   * Extra routes keyed by `METHOD path`, e.g. `GET /healthz`. A path ending in `/*` matches one
   * more segment (`DELETE /admin/keys/*`), one ending in `/**` any longer path under it
   * (`GET /v1/models/**`: model ids hold `/`); an exact path wins over a pattern.
   */
  routes?: Record<string, ExtraRoute>;
}

/** The HTTP edge: parse, validate, build the context, run the pipeline, write the reply. */
export function createHttpServer(gateway: Gateway, opts: HttpServerOptions = {}): Server {
  const routes = new Map(Object.entries(opts.routes ?? {}));
  const cors = corsHandler(gateway.config.cors.origins);
  const server = createServer(readTimeouts(gateway.config.server), (req, res) => {
    if (cors?.(req, res)) return;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const api = req.method === 'POST' ? API_ROUTES.get(path) : undefined;
    if (api) {
      handleApi(gateway, api, req, res).catch((e) =>
        gateway.log.error({ err: e }, 'unhandled error in request'),
      );
      return;
    }
    const extra = routes.get(`${req.method} ${path}`) ?? matchPattern(routes, req.method ?? '', path);
    if (extra) {
      handleExtra(extra, req, res, new URL(url, 'http://local'), dialectOf(req, path)).catch((e) =>
        gateway.log.error({ err: e }, 'unhandled error in route'),
      );
      return;
    }
    const allowed = allowedMethods(routes, path);
    writeError(
      res,
      dialectOf(req, path),
      allowed.length > 0
        ? new SluiceError(
            'invalid_request',
            `method ${req.method} not allowed on ${path}; use ${allowed.join(', ')}`,
            {
              status: 405,
              headers: { allow: allowed.join(', ') },
            },
          )
        : new SluiceError('not_found', `no route ${req.method} ${path}`),
    );
  });
  return server;
}

/**
 * The dialect a request outside the known API routes speaks, for its errors: Anthropic for
 * `/v1/messages…` paths and for any request carrying `anthropic-version` (every Anthropic SDK
 * call does), else OpenAI.
 */
function dialectOf(req: IncomingMessage, path: string): Dialect {
  return path.startsWith('/v1/messages') || req.headers['anthropic-version'] !== undefined
    ? 'anthropic'
    : 'openai';
}

/** The route of a `METHOD /parent/*` or `/parent/**` pattern the request falls under, if any. */
function matchPattern<T>(routes: ReadonlyMap<string, T>, method: string, path: string): T | undefined {
  for (const [key, route] of routes) {
    const space = key.indexOf(' ');
    const pattern = key.slice(space + 1);
    if (pattern.endsWith('/*') || pattern.endsWith('/**')) {
      if (key.slice(0, space) === method && pathMatches(pattern, path)) return route;
    }
  }
  return undefined;
}

/** Methods some route answers on `path` (the `Allow` header of a 405); empty for an unknown path. */
function allowedMethods(routes: ReadonlyMap<string, unknown>, path: string): string[] {
  const methods = new Set<string>();
  if (API_ROUTES.has(path)) methods.add('POST');
  for (const key of routes.keys()) {
    const space = key.indexOf(' ');
    if (pathMatches(key.slice(space + 1), path)) methods.add(key.slice(0, space));
  }
  return [...methods].sort();
}

/**
 * `routePath` is a path, `/parent/*` (one more non-empty segment) or `/parent/**` (anything
 * non-empty after `/parent/`, slashes included).
 */
function pathMatches(routePath: string, path: string): boolean {
  const rest = routePath.endsWith('/**') ? 2 : routePath.endsWith('/*') ? 1 : 0;
  if (rest === 0) return routePath === path;
  const prefix = routePath.slice(0, -rest);
  if (path.length <= prefix.length || !path.startsWith(prefix)) return false;
  return rest === 2 || !path.includes('/', prefix.length);
}

async function handleApi(gateway: Gateway, api: ApiRoute, req: IncomingMessage, res: ServerResponse) {
  const abort = new AbortController();
  const delivery = new Delivery();
  let deadlineTimer: NodeJS.Timeout | undefined;
  res.on('close', () => {
    clearTimeout(deadlineTimer);
    if (!res.writableFinished) abort.abort();
  });
  let ctx: RequestContext | undefined;
  try {
    requireJsonContentType(req.headers);
    const raw = await readBody(req, gateway.config.maxBodyBytes, gateway.config.server.bodyIdleTimeoutMs);
    const body = validateBody(api.route, parseJson(raw));
    ctx = createContext({
      dialect: api.dialect,
      route: api.route,
      headers: req.headers,
      body,
      rawBody: raw,
      signal: abort.signal,
      timeoutMs: gateway.config.requestTimeoutMs,
      delivery,
    });
    // One timer per request bounds everything after the deadline (upstream call, stream):
    // cheaper than a timeout signal combined per attempt. It fires just after the deadline so
    // stages that watch the deadline themselves (the queue) answer with their own timeout error.
    deadlineTimer = setTimeout(() => abort.abort(), ctx.deadline - Date.now() + DEADLINE_BACKSTOP_MS);
    const reply = await gateway.handle(ctx);
    await writeReply(res, ctx, reply, () => abort.abort());
  } catch (e) {
    const err = toSluiceError(e);
    if (err.code === 'internal') gateway.log.error({ err: e, reqId: ctx?.id }, 'request failed');
    if (!res.headersSent) writeError(res, api.dialect, err, ctx);
    else if (!res.writableEnded) res.end();
  } finally {
    // Whatever happened above, the stages waiting on the outcome hear of it exactly once.
    delivery.report({ status: 499, failure: 'client_closed' });
  }
}

async function handleExtra(
  route: ExtraRoute,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  dialect: Dialect,
) {
  let reply: RouteReply;
  let body: string;
  try {
    const value = await route(req, url);
    if (value instanceof RawReply) {
      const headers = safeHeaders(value.headers);
      headers['content-length'] = String(value.body.byteLength);
      if (sendHead(res, value.status, headers, dialect)) res.end(value.body);
      return;
    }
    reply = value instanceof RouteReply ? value : new RouteReply(value);
    body = JSON.stringify(reply.body);
  } catch (e) {
    writeError(res, dialect, toSluiceError(e));
    return;
  }
  const headers = safeHeaders(reply.headers);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(body));
  if (sendHead(res, reply.status, headers, dialect)) res.end(body);
}

/**
 * Write the reply. `drop` is called when its head cannot be written: the fallback error has
 * been sent instead, and a stream that will never be read must be let go (upstream call
 * cancelled, budget settled) as if the client had left.
 */
async function writeReply(
  res: ServerResponse,
  ctx: RequestContext,
  reply: Reply,
  drop: () => void,
): Promise<void> {
  // The head is built once, here: the reply's headers, then the stages' (ctx.responseHeaders).
  const headers = safeHeaders(reply.headers, ctx.responseHeaders);
  headers['x-request-id'] = headerValue(ctx.id);
  if (reply.kind === 'json') headers['content-length'] = String(reply.body.byteLength);
  // No flushHeaders() for streams: the headers leave with the first chunk, in one write instead of two.
  const sent = sendHead(res, reply.status, headers, ctx.dialect, ctx);
  if (!sent) {
    if (reply.kind === 'stream') drop();
    return;
  }
  if (reply.kind === 'json') {
    res.end(reply.body);
    return;
  }
  try {
    for await (const chunk of reply.chunks) {
      if (res.destroyed) break;
      if (!res.write(chunk)) await once(res, 'drain', { signal: ctx.signal });
    }
  } catch (e) {
    // Mid-stream failure: the status is already sent, so tell the client in the stream itself.
    const err = toSluiceError(e);
    if (err.code !== 'client_closed' && !res.destroyed) res.write(DIALECTS[ctx.dialect].errorEvent(err));
  }
  if (!res.writableEnded) res.end();
}

function writeError(res: ServerResponse, dialect: Dialect, e: SluiceError, ctx?: RequestContext): void {
  const body = JSON.stringify(DIALECTS[dialect].errorBody(e));
  const headers = safeHeaders(ctx?.responseHeaders, errorHeaders(e));
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(body));
  if (ctx) headers['x-request-id'] = headerValue(ctx.id);
  if (e.code === 'payload_too_large') headers.connection = 'close';
  if (sendHead(res, e.status, headers, dialect, ctx)) res.end(body);
}

/**
 * Write the response head, its values already made safe (`safeHeaders`). Should writing it
 * still fail, a bare 500 with no request-derived header goes out instead, so the client gets
 * exactly one reply whatever the headers held. Reports what was sent to `ctx.delivery`.
 * Returns whether the head that was asked for went out (the caller then writes the body).
 */
function sendHead(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  dialect: Dialect,
  ctx?: RequestContext,
): boolean {
  if (res.destroyed || res.headersSent) {
    ctx?.delivery?.report({ status: 499, failure: 'client_closed' });
    return false;
  }
  try {
    res.writeHead(status, headers);
    ctx?.delivery?.report({ status });
    return true;
  } catch (e) {
    ctx?.delivery?.report({ status: 500, failure: 'reply_failed' });
    writeFallback(res, dialect, e);
    return false;
  }
}

function writeFallback(res: ServerResponse, dialect: Dialect, cause: unknown): void {
  const body = JSON.stringify(
    DIALECTS[dialect].errorBody(
      new SluiceError('internal', 'the gateway could not write this reply', { cause }),
    ),
  );
  try {
    // Headers set earlier by setHeader() would be written again: start from none.
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(500, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    });
    res.end(body);
  } catch {
    // Nothing more can be said on this connection: close it rather than leave the client waiting.
    res.destroy();
  }
}

function toSluiceError(e: unknown): SluiceError {
  if (isSluiceError(e)) return e;
  return new SluiceError('internal', 'internal gateway error', { cause: e });
}

/**
 * Node's own limits on a client sending its request. They end only the reading of a request:
 * once its body is in, a long streamed reply is not cut by them.
 */
function readTimeouts(server: Config['server']): ServerOptions {
  return {
    keepAliveTimeout: 65_000,
    headersTimeout: server.headersTimeoutMs,
    requestTimeout: server.requestReadTimeoutMs,
    // Node checks those limits on this interval (30 s by default), so it bounds how late a cut comes.
    connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(server.headersTimeoutMs / 5))),
  };
}

/**
 * Read a body up to `limit` bytes. `idleTimeoutMs` bounds the silence between chunks: a client
 * that stops sending gets 408 and its connection closed rather than holding it open.
 */
export function readBody(req: IncomingMessage, limit: number, idleTimeoutMs?: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  // Listeners rather than `for await`: no async iterator and promise per chunk on the hot path.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (err: SluiceError) => {
      clearTimeout(idle);
      req.removeAllListeners('data');
      req.resume();
      reject(err);
    };
    const idle =
      idleTimeoutMs === undefined ? undefined : setTimeout(() => stop(stalled(idleTimeoutMs)), idleTimeoutMs);
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        stop(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
      idle?.refresh();
    });
    req.once('end', () => {
      clearTimeout(idle);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    // A client gone mid-body (or cut by Node's own timeouts): nothing left to answer.
    const gone = (cause?: unknown) =>
      stop(new SluiceError('client_closed', 'client closed the connection mid-body', { cause }));
    req.once('error', gone);
    req.once('close', () => {
      if (!req.complete) gone();
    });
  });
}

function stalled(idleTimeoutMs: number): SluiceError {
  return new SluiceError('request_timeout', `request body stalled: no data for ${idleTimeoutMs} ms`, {
    // The rest of the body may never come; the connection cannot be reused.
    headers: { connection: 'close' },
  });
}

function tooLarge(limit: number): SluiceError {
  return new SluiceError('payload_too_large', `request body is larger than the limit of ${limit} bytes`);
}

export function parseJson(raw: Buffer): unknown {
  if (raw.byteLength === 0)
    throw new SluiceError('invalid_json', 'request body is empty; send a JSON object');
  // Decoding would silently turn a stray byte into U+FFFD: the provider would get other text.
  if (!isUtf8(raw))
    throw new SluiceError('invalid_json', 'request body is not valid UTF-8; JSON must be UTF-8');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new SluiceError('invalid_json', `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export async function listen(
  server: Server,
  port: number,
  host: string,
): Promise<{ url: string; port: number }> {
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address() as AddressInfo;
  return { url: `http://${host}:${addr.port}`, port: addr.port };
}
