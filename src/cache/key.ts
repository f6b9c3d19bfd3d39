import { createHash } from 'node:crypto';
import type { Caller, Dialect, RouteName } from '../pipeline/types.js';
import type { CacheScope } from './config.js';
import { compositeKey, compositeKeyPrefix, decodeCompositeKey } from '../store/composite-key.js';
import { routeSpec } from '../dialect/index.js';
import { canonicalJson } from './canonical-json.js';

/**
 * The caller's cache scope as one string, built with `compositeKey` so that no two distinct
 * callers share it whatever their names contain (team `a/b` + user `c` is not team `a` +
 * user `b/c`). Kinds keep teams, keys and users apart (a team named like a user never shares
 * with them). In `user` mode the user is qualified by team or key, since user ids are only
 * unique within one. An empty team or key id counts as none.
 */
export function scopeOf(mode: CacheScope, caller: Caller): string {
  const team = caller.team || undefined;
  const keyId = caller.keyId || undefined;
  switch (mode) {
    case 'shared':
      return compositeKey('shared');
    case 'team':
      if (team !== undefined) return compositeKey('t', team);
      if (keyId !== undefined) return compositeKey('k', keyId);
      return compositeKey('u', caller.user);
    case 'key':
      return keyId !== undefined ? compositeKey('k', keyId) : compositeKey('u', caller.user);
    case 'user':
      if (team !== undefined) return compositeKey('u', 't', team, caller.user);
      if (keyId !== undefined) return compositeKey('u', 'k', keyId, caller.user);
      return compositeKey('u', caller.user);
  }
}

export interface KeyInput {
  dialect: Dialect;
  route: RouteName;
  /** The request body as the client sent it. */
  body: Readonly<Record<string, unknown>>;
  scope: string;
}

/** First piece of every exact-cache key; bumped when the key's format or hash input changes. */
const EXACT_KEY_KIND = 'exact-v3';

/**
 * The exact-cache key: `compositeKey('exact-v3', scope, model, hash)`, so purges by scope or
 * model are prefix/piece matches. The hash is SHA-256 over the dialect, route, scope and
 * every keyed field (see dialect/request-fields.ts), fields in name order, each as
 * `JSON(name) \0 canonicalJson(value) \0`: JSON text never holds a raw NUL and the scope is
 * escaped, so the framing is unambiguous (and JSON escapes lone surrogates, so UTF-8 hashing
 * loses nothing). Objects are canonical at every depth (keys sorted, arrays in order): a
 * provider reads a message or a content block by its field names, never by their order, so
 * `{"content","role"}` and `{"role","content"}` are one request (v2 sorted only the top
 * level). `null` counts as absent at the top level, as providers treat it.
 */
export function canonicalKey(input: KeyInput): string {
  const { body } = input;
  const table = routeSpec(input.route).keyedFields;
  if (!table) throw new TypeError(`${input.route} requests are never cached (policy.ts): no key table`);
  // One string, one native hash call: cheaper than an update per field.
  let canonical = `sluice-${EXACT_KEY_KIND}\0${input.dialect}\0${input.route}\0${input.scope}\0`;
  for (const field of Object.keys(body).sort()) {
    const value = body[field];
    if (value === undefined || value === null || table[field] === false) continue;
    canonical += `${JSON.stringify(field)}\0${canonicalJson(value)}\0`;
  }
  const hash = createHash('sha256').update(canonical).digest('base64url');
  const model = typeof body.model === 'string' ? body.model : '';
  return compositeKey(EXACT_KEY_KIND, input.scope, model, hash);
}

/** The prefix of every exact-cache key of `scope` (and of `model` within it, when given). */
export function exactKeyPrefix(scope: string, model?: string): string {
  return model === undefined
    ? compositeKeyPrefix(EXACT_KEY_KIND, scope)
    : compositeKeyPrefix(EXACT_KEY_KIND, scope, model);
}

/** The model piece of a key made by `canonicalKey` (undefined for any other string). */
export function modelOfKey(key: string): string | undefined {
  const pieces = decodeCompositeKey(key);
  if (pieces === undefined || pieces.length !== 4 || pieces[0] !== EXACT_KEY_KIND) return undefined;
  return pieces[2];
}
