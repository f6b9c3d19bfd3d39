/**
 * Identify the caller. When a key is required (`auth.required`, see mode.ts), every request must
 * present one (`Authorization: Bearer <key>`, or `x-api-key` as Anthropic clients send it); the key
 * decides user, team and tier, and request headers cannot override them. Otherwise the caller is
 * who the request says (`x-sluice-user`, else the body's `user`), with team and tier from
 * `auth.users`. Either way the client's credentials are never sent upstream: provider keys
 * stay on the server.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SluiceError } from '../errors.js';
import type { RequestContext, Stage } from '../pipeline/types.js';
import type { AuthConfig } from './config.js';
import type { KeyRecord, KeyStore } from './keys.js';
import { keyRefusalMessage, keyRequired } from './mode.js';

/** The credential a client presented, if any. */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey ? apiKey : undefined;
}

export function authStage(deps: { keys: KeyStore; config: AuthConfig }): Stage {
  const { keys, config } = deps;
  return async (ctx, next) => {
    const key = presentedKey(ctx.headers);
    if (await keyRequired(config.required, keys)) {
      if (!key) throw new SluiceError('unauthorized', keyRefusalMessage(config.required, 'none'));
      const resolved = await keys.resolve(key);
      if (!resolved.ok) {
        throw new SluiceError(
          'unauthorized',
          resolved.reason === 'revoked'
            ? 'This API key has been revoked.'
            : keyRefusalMessage(config.required, 'unknown'),
        );
      }
      identifyByKey(ctx, resolved.record, config);
      return next();
    }
    // Keys optional: a valid one still names its caller (budgets, ledger); anything else, such as
    // the placeholder key an SDK insists on, is ignored.
    if (key && config.required === 'never') {
      const resolved = await keys.resolve(key);
      if (resolved.ok) {
        identifyByKey(ctx, resolved.record, config);
        return next();
      }
    }
    const known = config.users[ctx.caller.user];
    const tier = ctx.caller.tier ?? known?.tier ?? config.defaultTier;
    const team = ctx.caller.team ?? known?.team;
    ctx.caller = { user: ctx.caller.user, ...(team ? { team } : {}), ...(tier ? { tier } : {}) };
    return next();
  };
}

function identifyByKey(ctx: RequestContext, r: KeyRecord, config: AuthConfig): void {
  ctx.caller = { user: r.user, team: r.team, keyId: r.id, tier: r.tier ?? config.defaultKeyTier };
  ctx.virtualKey = r;
}
