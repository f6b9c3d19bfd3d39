/**
 * Virtual API keys. A key is shown once, at creation; only its SHA-256 is stored. The key id is
 * derived from the hash (`vk_` + 16 hex digits), so resolving a presented key is one hash and
 * one store read, and the full hash is still compared (in constant time) before it is trusted.
 * Records live in a KvStore namespace, so keys work on every backend (memory, SQLite, Redis).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isStoreUnavailable } from '../store/errors.js';
import type { KvStore } from '../store/types.js';
import type { AuthConfig, ConfigKey } from './config.js';

export interface KeyRecord {
  id: string;
  /** SHA-256 of the key, hex. */
  hash: string;
  /** The key's first characters, to recognise it in listings (`sk-sluice-AbCd…`). */
  prefix: string;
  user: string;
  team?: string;
  tier?: string;
  name?: string;
  createdAt: string;
  revokedAt?: string;
  dailyUsd?: number;
  monthlyUsd?: number;
  /** History compression for this key's requests (overrides the route default). */
  compress?: boolean;
  /** Declared in config (cannot be revoked through the API). */
  fromConfig?: boolean;
}

/** A key record as shown to admins: never the hash. */
export type PublicKeyRecord = Omit<KeyRecord, 'hash'>;

export interface NewKey {
  user: string;
  team?: string;
  tier?: string;
  name?: string;
  dailyUsd?: number;
  monthlyUsd?: number;
  compress?: boolean;
}

export type Resolved = { ok: true; record: KeyRecord } | { ok: false; reason: 'unknown' | 'revoked' };

const KEY_PREFIX = 'sk-sluice-';
const NS = 'auth:key:';

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');
const idOf = (hash: string): string => `vk_${hash.slice(0, 16)}`;

export const toPublic = ({ hash: _hash, ...rest }: KeyRecord): PublicKeyRecord => rest;

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface KeyStoreOptions {
  now?: () => number;
}

export class KeyStore {
  readonly #kv: KvStore;
  readonly #config: AuthConfig;
  readonly #configKeys = new Map<string, KeyRecord>();
  readonly #cache = new Map<string, { at: number; resolved: Resolved }>();
  readonly #cacheMs: number;
  readonly #now: () => number;
  #hasStoredKeys: { at: number; value: boolean } | undefined;

  constructor(kv: KvStore, config: AuthConfig, options: KeyStoreOptions = {}) {
    this.#kv = kv;
    this.#config = config;
    this.#cacheMs = config.cacheSeconds * 1000;
    this.#now = options.now ?? Date.now;
    for (const k of config.keys) {
      const record = fromConfigKey(k);
      this.#configKeys.set(record.hash, record);
    }
  }

  /** True when any key exists, revoked ones included (`auth.required: auto` then requires one). */
  async hasKeys(): Promise<boolean> {
    if (this.#configKeys.size > 0) return true;
    const now = this.#now();
    if (this.#hasStoredKeys && (this.#hasStoredKeys.value || now - this.#hasStoredKeys.at < this.#cacheMs)) {
      return this.#hasStoredKeys.value;
    }
    let value = false;
    try {
      for await (const _ of this.#kv.keys(NS)) {
        value = true;
        break;
      }
    } catch (error) {
      // The store is away: what it said last still holds (keys are not deleted, only revoked).
      if (this.#hasStoredKeys && isStoreUnavailable(error)) return this.#hasStoredKeys.value;
      throw error;
    }
    this.#hasStoredKeys = { at: now, value };
    return value;
  }

  async create(input: NewKey): Promise<{ key: string; record: PublicKeyRecord }> {
    if (!input.user) throw new TypeError('a key needs a user');
    const key = KEY_PREFIX + randomBytes(24).toString('base64url');
    const hash = hashKey(key);
    const record: KeyRecord = {
      id: idOf(hash),
      hash,
      prefix: `${key.slice(0, KEY_PREFIX.length + 4)}…`,
      user: input.user,
      team: input.team,
      tier: input.tier ?? this.#config.defaultKeyTier,
      name: input.name,
      createdAt: new Date(this.#now()).toISOString(),
      dailyUsd: input.dailyUsd,
      monthlyUsd: input.monthlyUsd,
      compress: input.compress,
    };
    await this.#write(record);
    this.#hasStoredKeys = { at: this.#now(), value: true };
    return { key, record: toPublic(record) };
  }

  /** Revoke by id. Returns the record, or undefined if there is no such stored key. */
  async revoke(id: string): Promise<PublicKeyRecord | undefined> {
    const record = await this.#read(id);
    if (!record) return undefined;
    if (!record.revokedAt) {
      record.revokedAt = new Date(this.#now()).toISOString();
      await this.#write(record);
    }
    this.#cache.delete(record.hash);
    return toPublic(record);
  }

  async get(id: string): Promise<PublicKeyRecord | undefined> {
    const config = [...this.#configKeys.values()].find((r) => r.id === id);
    if (config) return toPublic(config);
    const record = await this.#read(id);
    return record && toPublic(record);
  }

  async list(): Promise<PublicKeyRecord[]> {
    const out: PublicKeyRecord[] = [...this.#configKeys.values()].map(toPublic);
    for await (const k of this.#kv.keys(NS)) {
      const record = await this.#read(k.slice(NS.length));
      if (record) out.push(toPublic(record));
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Who a presented key belongs to. */
  async resolve(key: string): Promise<Resolved> {
    const hash = hashKey(key);
    const fromConfig = this.#configKeys.get(hash);
    if (fromConfig) return { ok: true, record: fromConfig };
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && now - cached.at < this.#cacheMs) return cached.resolved;
    let record: KeyRecord | undefined;
    try {
      record = await this.#read(idOf(hash));
    } catch (error) {
      // The store is away: a key seen recently keeps working (a revocation made meanwhile
      // takes effect once the store is back); an unknown key gets 503, not 401.
      if (cached && isStoreUnavailable(error)) return cached.resolved;
      throw error;
    }
    let resolved: Resolved;
    if (!record || !sameHash(record.hash, hash)) resolved = { ok: false, reason: 'unknown' };
    else if (record.revokedAt) resolved = { ok: false, reason: 'revoked' };
    else resolved = { ok: true, record };
    if (this.#cacheMs > 0) {
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(hash, { at: now, resolved });
    }
    return resolved;
  }

  async #read(id: string): Promise<KeyRecord | undefined> {
    const bytes = await this.#kv.get(NS + id);
    if (!bytes) return undefined;
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as KeyRecord;
  }

  async #write(record: KeyRecord): Promise<void> {
    await this.#kv.set(NS + record.id, Buffer.from(JSON.stringify(record)), 0);
  }
}

function fromConfigKey(k: ConfigKey): KeyRecord {
  return {
    id: idOf(k.sha256),
    hash: k.sha256,
    prefix: '(config)',
    user: k.user,
    team: k.team,
    tier: k.tier,
    name: k.name,
    createdAt: new Date(0).toISOString(),
    dailyUsd: k.dailyUsd,
    monthlyUsd: k.monthlyUsd,
    compress: k.compress,
    fromConfig: true,
  };
}
