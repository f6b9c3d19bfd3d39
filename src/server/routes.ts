import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { isAdmin } from '../auth/admin.js';
import { keyRefusalMessage, keyRequired } from '../auth/mode.js';
import { presentedKey } from '../auth/stage.js';
import { scopeOf } from '../cache/key.js';
import { SluiceError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { modelMatcher } from '../route/upstreams.js';
import { buildUpstreamHeaders } from '../upstream/providers.js';
import { parseAdminBody } from './admin-body.js';
import { dashboardAsset } from './dashboard/assets.js';
import { requireJsonContentType } from './content-type.js';
import { countTokensRoute } from './count-tokens.js';
import { type ExtraRoute, parseJson, RawReply, readBody } from './http.js';
import { type ModelEntry, modelBody, modelListBody, wantsAnthropicShape } from './model-routes.js';
import { malformedError } from '../dialect/validate.js';
import { findMalformed } from '../dialect/well-formed.js';

const MODEL_LIST_TTL_MS = 60_000;
const ADMIN_BODY_LIMIT = 64 * 1024;

/** Routes outside the pipeline: health, models, stats and the admin API. */
export function extraRoutes(gateway: Gateway, adminKey: string | undefined): Record<string, ExtraRoute> {
  const startedAt = Date.now();
  let cachedModels: { at: number; data: ModelEntry[] } | undefined;
  const models = async (): Promise<ModelEntry[]> => {
    if (!cachedModels || Date.now() - cachedModels.at > MODEL_LIST_TTL_MS) {
      cachedModels = { at: Date.now(), data: await modelList(gateway) };
    }
    return cachedModels.data;
  };
  const admin =
    (route: ExtraRoute): ExtraRoute =>
    (req, url) => {
      if (!adminKey)
        throw new SluiceError('forbidden', 'the admin API is off: set SLUICE_ADMIN_KEY to enable it');
      if (!isAdmin(req.headers, adminKey))
        throw new SluiceError('unauthorized', 'admin key missing or wrong');
      return route(req, url);
    };
  // Stats name users and their usage: behind the admin key when there is one, open otherwise.
  const adminIfSet =
    (route: ExtraRoute): ExtraRoute =>
    (req, url) => {
      if (adminKey && !isAdmin(req.headers, adminKey))
        throw new SluiceError(
          'unauthorized',
          `admin key missing or wrong: ${url.pathname} needs SLUICE_ADMIN_KEY`,
        );
      return route(req, url);
    };
  const { economy, cache } = gateway;
  return {
    /**
     * Always 200 while the process serves: a shared dependency that is away (Redis, PostgreSQL)
     * makes every instance equally degraded, so a load balancer taking instances out for it
     * would only turn degraded service into none. `status` and `dependencies` say which.
     */
    'GET /healthz': () => {
      const dependencies = gateway.backend.health();
      const degraded = Object.values(dependencies).includes('degraded');
      return {
        status: degraded ? 'degraded' : 'ok',
        dependencies,
        uptime_s: Math.round((Date.now() - startedAt) / 1000),
        upstreams: gateway.router.upstreams.map((u) => ({ name: u.name, kind: u.kind })),
      };
    },
    'GET /v1/models': async (req) => modelListBody(await models(), wantsAnthropicShape(req)),
    /** `models.retrieve` of both SDKs: ids may hold `/` and `:`, so the whole rest of the path is the id. */
    'GET /v1/models/**': async (req) => modelBody(await models(), req),
    'POST /v1/messages/count_tokens': countTokensRoute(gateway),
    'GET /v1/stats': adminIfSet((_req, url) => gateway.stats(url.searchParams.get('range'))),
    'GET /v1/stats/series': adminIfSet((_req, url) => gateway.statsSeries(url.searchParams.get('range'))),
    /** Body: `{ request_id, score, name?, comment? }`; `request_id` is an answer's `x-request-id`. */
    'POST /v1/feedback': async (req) => {
      const user = await feedbackCaller(gateway, req, adminKey);
      const fb = await gateway.feedback.record(await jsonBody(req, gateway), user);
      return {
        object: 'feedback',
        request_id: fb.requestId,
        name: fb.name,
        score: fb.score,
        recorded_at: new Date(fb.ts).toISOString(),
      };
    },
    // The page carries no data (it asks the stats routes above, with the admin key): open to load.
    'GET /dashboard': () => dashboardAsset('index.html'),
    'GET /dashboard/*': (_req, url) => dashboardAsset(url.pathname.slice('/dashboard/'.length)),
    ...(gateway.observability.metrics
      ? {
          'GET /metrics': adminIfSet(async () => {
            const { contentType, body } = await gateway.observability.metricsText();
            return new RawReply(Buffer.from(body), { 'content-type': contentType });
          }),
        }
      : {}),
    'GET /admin/usage': admin((_req, url) => economy.admin.usage(url.searchParams)),
    'GET /admin/keys': admin(() => economy.admin.listKeys()),
    'POST /admin/keys': admin(async (req) => economy.admin.createKey(await jsonBody(req, gateway))),
    'GET /admin/keys/*': admin((_req, url) => economy.admin.getKey(keyIdFromPath(url))),
    'DELETE /admin/keys/*': admin((_req, url) => economy.admin.revokeKey(keyIdFromPath(url))),
    /** Deprecated spelling of `DELETE /admin/keys/{id}`, kept for scripts written against it. */
    'DELETE /admin/keys': admin(async (_req, url) => {
      const id = url.searchParams.get('id');
      if (!id)
        throw new SluiceError('invalid_request', 'name the key in the path: DELETE /admin/keys/{id}', {
          param: 'id',
        });
      return economy.admin.revokeKey(id);
    }),
    /** Body: `{ user?, team?, key?, shared?, model? }`; the scope is derived as the cache derives it. */
    'POST /admin/cache/purge': admin(async (req) => {
      const body = purgeRequest(await jsonBody(req, gateway));
      const hasCaller = body.user !== undefined || body.team !== undefined || body.key !== undefined;
      const scope = body.shared
        ? 'shared'
        : hasCaller
          ? scopeOf(gateway.config.cache.scope, { user: body.user ?? '', team: body.team, keyId: body.key })
          : undefined;
      if (scope === undefined && body.model === undefined) {
        throw new SluiceError('invalid_request', 'name what to purge: user, team, key, shared and/or model');
      }
      return { purged: await cache.purge({ scope, model: body.model }) };
    }),
  };
}

/**
 * Who may score an answer: whoever may call the API. When keys are required that takes a valid
 * key (its user is recorded) or the admin key; otherwise the caller is who the request says.
 */
async function feedbackCaller(
  gateway: Gateway,
  req: IncomingMessage,
  adminKey: string | undefined,
): Promise<string | undefined> {
  if (isAdmin(req.headers, adminKey)) return undefined;
  const { keys } = gateway.economy;
  const mode = gateway.config.auth.required;
  const presented = presentedKey(req.headers);
  const resolved = presented ? await keys.resolve(presented) : undefined;
  if (resolved?.ok) return resolved.record.user;
  if (await keyRequired(mode, keys))
    throw new SluiceError('unauthorized', keyRefusalMessage(mode, presented ? 'unknown' : 'none'));
  const named = req.headers['x-sluice-user'];
  return typeof named === 'string' && named ? named : undefined;
}

const purgeSchema = z.strictObject({
  user: z.string().optional(),
  team: z.string().optional(),
  key: z.string().optional(),
  shared: z.boolean().optional(),
  model: z.string().optional(),
});

/** The purge body checked like an API body: an object of known fields, well-formed text. */
function purgeRequest(body: unknown): z.infer<typeof purgeSchema> {
  const parsed = parseAdminBody(purgeSchema, body, 'purge request');
  const malformed = findMalformed(parsed);
  if (malformed) throw malformedError(malformed);
  return parsed;
}

const KEYS_PATH = '/admin/keys/';

function keyIdFromPath(url: URL): string {
  const encoded = url.pathname.slice(KEYS_PATH.length);
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    // Malformed percent-encoding (`%zz`, an encoded lone surrogate) is the client's error, not a 500.
    throw new SluiceError('invalid_request', `the key id in the path is not valid percent-encoded UTF-8`, {
      param: 'id',
    });
  }
  if (!id || id.includes('/'))
    throw new SluiceError('invalid_request', 'expected /admin/keys/{id}', { param: 'id' });
  return id;
}

async function jsonBody(req: IncomingMessage, gateway: Gateway): Promise<unknown> {
  requireJsonContentType(req.headers);
  return parseJson(await readBody(req, ADMIN_BODY_LIMIT, gateway.config.server.bodyIdleTimeoutMs));
}

/**
 * Exact names from the config, plus, for upstreams configured with patterns, the models the
 * upstream itself lists (filtered by the patterns). An upstream that cannot list is skipped.
 */
async function modelList(gateway: Gateway): Promise<ModelEntry[]> {
  const seen = new Set<string>();
  const data: ModelEntry[] = [];
  const add = (id: string, owner: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    data.push({ id, object: 'model', created: 0, owned_by: owner });
  };
  for (const m of gateway.router.listedModels()) add(m.id, m.upstream);
  const listings = await Promise.all(
    gateway.router.upstreams
      .filter((u) => u.models.some((m) => m.includes('*')))
      .map(async (u) => ({ upstream: u, ids: await fetchUpstreamModels(gateway, u.name) })),
  );
  for (const { upstream, ids } of listings) {
    const match = modelMatcher(upstream.models);
    for (const id of ids) if (match(id)) add(id, upstream.name);
  }
  return data;
}

async function fetchUpstreamModels(gateway: Gateway, name: string): Promise<string[]> {
  const target = gateway.pools.get(name);
  const headers = buildUpstreamHeaders(target.config.kind, {}, target.apiKey, target.config.headers, []);
  try {
    const res = await target.pool.request({
      path: `${target.basePath}/models`,
      method: 'GET',
      headers,
      headersTimeout: 3_000,
      bodyTimeout: 3_000,
    });
    const json = (await res.body.json()) as { data?: Array<{ id?: unknown }> };
    if (res.statusCode !== 200 || !Array.isArray(json.data)) return [];
    // An id echoing the provider key is no model anyone can call: left out rather than redacted.
    const { scrubber } = gateway.pools;
    return json.data.flatMap((m) => (typeof m.id === 'string' && !scrubber.contains(m.id) ? [m.id] : []));
  } catch (e) {
    gateway.log.warn({ upstream: name, err: (e as Error).message }, 'could not list upstream models');
    return [];
  }
}
