import { isStoreUnavailable } from './errors.js';
import type { RedisLink } from './redis-link.js';
import {
  CIRCUIT_ACQUIRE,
  CIRCUIT_OPEN,
  CIRCUIT_SETTLE_PROBE,
  LEASE_RELEASE,
  LEASE_RENEW,
  LuaScript,
} from './redis-scripts.js';
import type { LeaseStore, SharedCircuitStore, SharedCircuitView } from './types.js';

const leaseRenewScript = new LuaScript(LEASE_RENEW, 1);
const leaseReleaseScript = new LuaScript(LEASE_RELEASE, 1);
const circuitAcquireScript = new LuaScript(CIRCUIT_ACQUIRE, 3);
const circuitOpenScript = new LuaScript(CIRCUIT_OPEN, 3);
const circuitSettleProbeScript = new LuaScript(CIRCUIT_SETTLE_PROBE, 3);

/** Single-flight leases: one key each, its value the holder's token. */
export class RedisLeaseStore implements LeaseStore {
  readonly #link: RedisLink;
  readonly #prefix: string;

  constructor(link: RedisLink, prefix: string) {
    this.#link = link;
    this.#prefix = prefix;
  }

  async acquire(key: string, owner: string, ttlMs: number): Promise<boolean> {
    try {
      const reply = await this.#link.run((r) => r.set(this.#prefix + key, owner, 'PX', ttlMs, 'NX'));
      return reply === 'OK';
    } catch (error) {
      // A SET NX whose answer was lost may have taken the lease: free it if it did, then report.
      if (isStoreUnavailable(error) && error.maybeApplied) void this.release(key, owner).catch(() => {});
      throw error;
    }
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.#link.run((r) => leaseRenewScript.run(r, [this.#prefix + key], [owner, ttlMs]))) === 1;
  }

  async release(key: string, owner: string, marker?: { value: string; ttlMs: number }): Promise<void> {
    await this.#link.run((r) =>
      leaseReleaseScript.run(r, [this.#prefix + key], [owner, marker?.value ?? '', marker?.ttlMs ?? 0]),
    );
  }

  async holder(key: string): Promise<string | undefined> {
    return (await this.#link.run((r) => r.get(this.#prefix + key))) ?? undefined;
  }
}

/** One upstream's shared circuit: `open`, `tripped` and `probe` keys under one hash tag. */
export class RedisCircuitStore implements SharedCircuitStore {
  readonly #link: RedisLink;
  readonly #keys: [open: string, tripped: string, probe: string];

  constructor(link: RedisLink, base: string) {
    this.#link = link;
    this.#keys = [`${base}open`, `${base}tripped`, `${base}probe`];
  }

  async acquire(owner: string, probeTtlMs: number): Promise<SharedCircuitView> {
    const reply = (await this.#link.run((r) =>
      circuitAcquireScript.run(r, this.#keys, [owner, probeTtlMs]),
    )) as [Buffer, ...(Buffer | number)[]];
    const state = String(reply[0]);
    if (state === 'open')
      return { state: 'open', retryInMs: Number(reply[1]), openedAt: Number(String(reply[2])) };
    if (state === 'probe') return { state: 'probe' };
    if (state === 'busy') return { state: 'probe_busy', retryInMs: Math.max(0, Number(reply[1])) };
    return { state: 'closed' };
  }

  async open(openedAt: number, cooldownMs: number, holdMs: number, probeOwner?: string): Promise<void> {
    await this.#link.run((r) =>
      circuitOpenScript.run(r, this.#keys, [
        openedAt,
        Math.max(1, Math.round(cooldownMs)),
        Math.max(1, Math.round(holdMs)),
        probeOwner ?? '',
      ]),
    );
  }

  async settleProbe(owner: string, success: boolean): Promise<void> {
    await this.#link.run((r) => circuitSettleProbeScript.run(r, this.#keys, [owner, success ? '1' : '0']));
  }
}
