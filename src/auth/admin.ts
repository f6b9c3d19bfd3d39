/**
 * Admin-side operations on keys, for the HTTP admin API (`SLUICE_ADMIN_KEY`) and the CLI.
 * Each returns plain data; the server maps it to a response.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import type { KeyStore, PublicKeyRecord } from './keys.js';
import { presentedKey } from './stage.js';

/** True when the request carries the admin key. Compared on hashes, in constant time. */
export function isAdmin(headers: IncomingHttpHeaders, adminKey: string | undefined): boolean {
  if (!adminKey) return false;
  const presented = presentedKey(headers);
  if (!presented) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(adminKey).digest();
  return timingSafeEqual(a, b);
}

export const newKeySchema = z.strictObject({
  user: z.string().min(1).max(200),
  team: z.string().min(1).max(200).optional(),
  tier: z.string().min(1).max(100).optional(),
  name: z.string().max(200).optional(),
  daily_usd: z.number().nonnegative().optional(),
  monthly_usd: z.number().nonnegative().optional(),
  compress: z.boolean().optional(),
});

/** `POST /admin/keys` — the key is in the answer once and never again. */
export async function createKey(keys: KeyStore, body: unknown): Promise<{ key: string } & PublicKeyRecord> {
  const parsed = newKeySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SluiceError(
      'invalid_request',
      `invalid key request: ${issue.path.join('.') || 'body'}: ${issue.message}`,
      {
        param: issue.path.join('.') || null,
      },
    );
  }
  const p = parsed.data;
  const { key, record } = await keys.create({
    user: p.user,
    team: p.team,
    tier: p.tier,
    name: p.name,
    dailyUsd: p.daily_usd,
    monthlyUsd: p.monthly_usd,
    compress: p.compress,
  });
  return { key, ...record };
}

/** `DELETE /admin/keys/:id` */
export async function revokeKey(keys: KeyStore, id: string): Promise<PublicKeyRecord> {
  const record = await keys.revoke(id);
  if (!record) {
    const known = await keys.get(id);
    if (known?.fromConfig)
      throw new SluiceError('invalid_request', `key ${id} is declared in config; remove it there`);
    throw new SluiceError('not_found', `no key with id ${id}`);
  }
  return record;
}

/** `GET /admin/keys` */
export async function listKeys(keys: KeyStore): Promise<{ keys: PublicKeyRecord[] }> {
  return { keys: await keys.list() };
}
