import { createHash } from 'node:crypto';
import type { Caller, Dialect, RouteName } from '../pipeline/types.js';
import type { CacheScope } from './config.js';
import { KEYED_FIELDS } from './request-fields.js';

/**
 * The caller's cache scope as one string. Prefixes keep kinds apart (a team named like a
 * user never shares with them). In `user` mode the user is qualified by team or key, since
 * user ids are only unique within one.
 */
export function scopeOf(mode: CacheScope, caller: Caller): string {
  switch (mode) {
    case 'shared':
      return 'shared';
    case 'team':
      if (caller.team) return `t:${caller.team}`;
      if (caller.keyId) return `k:${caller.keyId}`;
      return `u:${caller.user}`;
    case 'key':
      return caller.keyId ? `k:${caller.keyId}` : `u:${caller.user}`;
    case 'user':
      return `u:${caller.team ?? caller.keyId ?? ''}/${caller.user}`;
  }
}

export interface KeyInput {
  dialect: Dialect;
  route: RouteName;
  /** The request body as the client sent it. */
  body: Readonly<Record<string, unknown>>;
  scope: string;
}

/**
 * The exact-cache key: `<scope>:<model>:<hash>` with scope and model URI-encoded (so `:`
 * never appears inside them and purges by scope or model are prefix/segment matches).
 * The hash is SHA-256 over the dialect, route, scope and every keyed field (see
 * request-fields.ts), fields in name order, each as `name \0 JSON \0`, so keys are
 * prefix-free. Values keep the client's own key order (objects are not re-sorted: the model
 * sees that order too). `null` counts as absent, as providers treat it.
 */
export function canonicalKey(input: KeyInput): string {
  const { body } = input;
  const table = KEYED_FIELDS[input.route];
  // One string, one native hash call: cheaper than an update per field.
  let canonical = `sluice-exact-v1\0${input.dialect}\0${input.route}\0${input.scope}\0`;
  for (const field of Object.keys(body).sort()) {
    const value = body[field];
    if (value === undefined || value === null || table[field] === false) continue;
    canonical += `${field}\0${JSON.stringify(value)}\0`;
  }
  const hash = createHash('sha256').update(canonical).digest('base64url');
  const model = typeof body.model === 'string' ? body.model : '';
  return `${storageSegment(input.scope)}:${storageSegment(model)}:${hash}`;
}

/** One `:`-free segment of a storage key. */
export const storageSegment = (text: string): string => encodeURIComponent(text);

/** The model segment of a key made by `canonicalKey`. */
export function modelOfKey(key: string): string | undefined {
  const first = key.indexOf(':');
  const second = key.indexOf(':', first + 1);
  if (first < 0 || second < 0) return undefined;
  return decodeURIComponent(key.slice(first + 1, second));
}
