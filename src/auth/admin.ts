/**
 * Admin-side operations on keys, for the HTTP admin API (`SLUICE_ADMIN_KEY`) and the CLI.
 * Each returns plain data; the server maps it to a response.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { invalidAdminBody, parseAdminBody } from '../server/admin-body.js';
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

/** Body of `POST /admin/keys`, in camelCase like the config and the replies. */
export const newKeySchema = z.strictObject({
  user: z.string().min(1).max(200),
  team: z.string().min(1).max(200).optional(),
  tier: z.string().min(1).max(100).optional(),
  name: z.string().max(200).optional(),
  dailyUsd: z.number().nonnegative().optional(),
  monthlyUsd: z.number().nonnegative().optional(),
  compress: z.boolean().optional(),
});

/** snake_case spellings the first version of the API asked for; still accepted. */
const SNAKE_CASE_ALIASES: Readonly<Record<string, keyof z.infer<typeof newKeySchema>>> = {
  daily_usd: 'dailyUsd',
  monthly_usd: 'monthlyUsd',
};

function withCamelCaseNames(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const out: Record<string, unknown> = { ...body };
  for (const [snake, camel] of Object.entries(SNAKE_CASE_ALIASES)) {
    if (!(snake in out)) continue;
    if (camel in out) throw invalidAdminBody('key request', `send ${camel} or ${snake}, not both`, camel);
    out[camel] = out[snake];
    delete out[snake];
  }
  return out;
}

/** `POST /admin/keys` — the key is in the answer once and never again. */
export async function createKey(keys: KeyStore, body: unknown): Promise<{ key: string } & PublicKeyRecord> {
  const fields = parseAdminBody(newKeySchema, withCamelCaseNames(body), 'key request');
  const { key, record } = await keys.create(fields);
  return { key, ...record };
}

/** `DELETE /admin/keys/{id}` */
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

/** `GET /admin/keys/{id}` */
export async function getKey(keys: KeyStore, id: string): Promise<PublicKeyRecord> {
  const record = await keys.get(id);
  if (!record) throw new SluiceError('not_found', `no key with id ${id}`);
  return record;
}

/** `GET /admin/keys` */
export async function listKeys(keys: KeyStore): Promise<{ keys: PublicKeyRecord[] }> {
  return { keys: await keys.list() };
}
