import { expiresAtFor } from './expiry.js';
import type { PostgresLink } from './postgres-link.js';
import type { KvEntry, KvStore } from './types.js';

const LIVE = '(expires_at = 0 OR expires_at > $3)';

/**
 * A KV namespace in PostgreSQL for records that must outlast any cache (virtual keys). No size
 * limits: such namespaces are small and nothing in them may be evicted. Expired rows are
 * invisible at once and deleted by `sweep`.
 */
export class PostgresKvStore implements KvStore {
  readonly #link: PostgresLink;
  readonly #ns: string;
  readonly #now: () => number;

  constructor(link: PostgresLink, ns: string, now: () => number = Date.now) {
    this.#link = link;
    this.#ns = ns;
    this.#now = now;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.getEntry(key))?.value;
  }

  async getEntry(key: string): Promise<KvEntry | undefined> {
    const result = await this.#link.query<{ value: Buffer; expires_at: string }>(
      `SELECT value, expires_at FROM kv_entries WHERE ns = $1 AND key = $2 AND ${LIVE}`,
      [this.#ns, key, this.#now()],
    );
    const row = result.rows[0];
    return row && { value: row.value, expiresAt: Number(row.expires_at) };
  }

  async set(key: string, value: Uint8Array, ttlSeconds: number): Promise<void> {
    await this.#link.query(
      `INSERT INTO kv_entries (ns, key, value, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (ns, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [this.#ns, key, Buffer.from(value), expiresAtFor(ttlSeconds, this.#now())],
    );
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.#now();
    const result = await this.#link.query(
      `UPDATE kv_entries SET expires_at = $4 WHERE ns = $1 AND key = $2 AND ${LIVE}`,
      [this.#ns, key, now, expiresAtFor(ttlSeconds, now)],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async delete(key: string): Promise<boolean> {
    const result = await this.#link.query(
      `DELETE FROM kv_entries WHERE ns = $1 AND key = $2 AND ${LIVE} RETURNING 1`,
      [this.#ns, key, this.#now()],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async deletePrefix(prefix: string): Promise<number> {
    const result = await this.#link.query(
      `DELETE FROM kv_entries WHERE ns = $1 AND starts_with(key, $2) AND ${LIVE}`,
      [this.#ns, prefix, this.#now()],
    );
    return result.rowCount ?? 0;
  }

  async *keys(prefix: string): AsyncIterable<string> {
    const result = await this.#link.query<{ key: string }>(
      `SELECT key FROM kv_entries WHERE ns = $1 AND starts_with(key, $2) AND ${LIVE}`,
      [this.#ns, prefix, this.#now()],
    );
    for (const { key } of result.rows) yield key;
  }

  /** Delete expired rows of this namespace; returns how many went. */
  async sweep(): Promise<number> {
    const result = await this.#link.query(
      'DELETE FROM kv_entries WHERE ns = $1 AND expires_at > 0 AND expires_at <= $2',
      [this.#ns, this.#now()],
    );
    return result.rowCount ?? 0;
  }

  async close(): Promise<void> {}
}
