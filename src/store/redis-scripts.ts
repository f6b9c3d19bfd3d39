import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A Lua script run with EVALSHA, loaded with EVAL on the first NOSCRIPT (after a restart or
 * SCRIPT FLUSH). Replies come back with bulk strings as Buffers (values are bytes).
 *
 * Redis Cluster runs a script only when all its keys hash to one slot. Every multi-key script
 * here is given keys sharing a hash tag (`{...}`, see redis.ts): counters and their operation
 * tokens share `{ctr}`, a size-limited KV namespace's data keys and LRU books share
 * `{<namespace>}` (the eviction builds victims' data keys inside Lua: same tag, same slot),
 * an upstream's circuit keys share `{circuit:<upstream>}`.
 */
export class LuaScript {
  readonly #lua: string;
  readonly #sha: string;
  /** Number of KEYS the script takes; undefined = any. */
  readonly #keys: number | undefined;

  constructor(lua: string, keys?: number) {
    this.#lua = lua;
    this.#sha = createHash('sha1').update(lua).digest('hex');
    this.#keys = keys;
  }

  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number | Buffer)[],
  ): Promise<unknown> {
    if (this.#keys !== undefined && keys.length !== this.#keys) {
      throw new TypeError(`script expects ${this.#keys} keys, got ${keys.length}`);
    }
    try {
      return await redis.callBuffer('EVALSHA', this.#sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return redis.callBuffer('EVAL', this.#lua, keys.length, ...keys, ...args);
    }
  }
}

/**
 * All-or-nothing counter reservation. KEYS: the counters, then an operation token. ARGV, three
 * per counter: amount, limit ('' = none), ttl ms (0 = none); then the token's ttl ms. A key
 * listed twice is checked against both amounts.
 * Reply: {1, value...} or {0, failing index (0-based), current value}; {0, -1, '0'} when the
 * operation was cancelled before it ran (see CANCEL_ADD).
 *
 * The token makes a reservation the client gave up on (command timeout while Redis stalled)
 * undoable: Redis may still run it later, and CANCEL_ADD then takes it back.
 */
export const TRY_ADD = `
local n = #KEYS - 1
local token = KEYS[#KEYS]
if redis.call('EXISTS', token) == 1 then return {0, -1, '0'} end
local pending = {}
for i = 1, n do
  local key = KEYS[i]
  local amount = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local current = pending[key]
  if current == nil then current = tonumber(redis.call('GET', key) or '0') end
  if limit ~= nil and current + amount > limit then
    return {0, i - 1, tostring(current)}
  end
  pending[key] = current + amount
end
local out = {1}
for i = 1, n do
  local key = KEYS[i]
  out[i + 1] = redis.call('INCRBYFLOAT', key, ARGV[3 * i - 2])
  local ttl = tonumber(ARGV[3 * i])
  if ttl > 0 and redis.call('PTTL', key) == -1 then redis.call('PEXPIRE', key, ttl) end
end
redis.call('SET', token, 'applied', 'PX', ARGV[3 * n + 1])
return out
`;

/**
 * Take back a TRY_ADD the client gave up on, whether it already ran or runs later. KEYS: the
 * same counters and token. ARGV: the same amounts, then the token's ttl ms. Reply: 1 if an
 * applied reservation was undone, 0 if there was nothing to undo (refused, or not run yet: it
 * will now do nothing).
 */
export const CANCEL_ADD = `
local token = KEYS[#KEYS]
local state = redis.call('GET', token)
if state == 'cancelled' then return 0 end
redis.call('SET', token, 'cancelled', 'PX', ARGV[#ARGV])
if state ~= 'applied' then return 0 end
for i = 1, #KEYS - 1 do redis.call('INCRBYFLOAT', KEYS[i], -tonumber(ARGV[i])) end
return 1
`;

/*
 * KV scripts. A limited namespace keeps, beside the data keys, a sorted set of members scored
 * by a use counter (LRU order: lowest = least recently used), a hash of value sizes and a byte
 * total. A member whose data key expired stays in the books until it is evicted (it is the
 * least recently used by then) or swept; overwriting it replaces its size.
 */

/** KEYS: data, lru, sizes, bytes, clock. ARGV: value, ttl ms (0 = none), member, maxEntries, maxBytes ('' = none), data-key prefix. */
export const KV_SET_LIMITED = `
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
local ttl = tonumber(ARGV[2])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[1]) end
local size = string.len(ARGV[1])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], size)
local bytes = redis.call('INCRBY', KEYS[4], size - old)
local count = redis.call('ZCARD', KEYS[2])
local maxEntries = tonumber(ARGV[4])
local maxBytes = tonumber(ARGV[5])
local evicted = 0
while (maxEntries ~= nil and count > maxEntries) or (maxBytes ~= nil and bytes > maxBytes) do
  local victim = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not victim then break end
  redis.call('DEL', ARGV[6] .. victim)
  redis.call('ZREM', KEYS[2], victim)
  local victimSize = tonumber(redis.call('HGET', KEYS[3], victim) or '0')
  redis.call('HDEL', KEYS[3], victim)
  bytes = redis.call('DECRBY', KEYS[4], victimSize)
  count = count - 1
  evicted = evicted + 1
end
return evicted
`;

/**
 * KEYS: data, then (limited namespaces only) lru, clock: the use is recorded when they are
 * given. ARGV: member. Reply: nil or {value, pttl}.
 */
export const KV_GET_ENTRY = `
local value = redis.call('GET', KEYS[1])
if not value then return nil end
if #KEYS == 3 then redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), ARGV[1]) end
return {value, redis.call('PTTL', KEYS[1])}
`;

/** KEYS: data [, lru, clock] as for KV_GET_ENTRY. ARGV: ttl ms (0 = none), member. Reply: 1 or 0. */
export const KV_TOUCH = `
local ok
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  ok = redis.call('PEXPIRE', KEYS[1], ttl)
else
  ok = redis.call('EXISTS', KEYS[1])
  if ok == 1 then redis.call('PERSIST', KEYS[1]) end
end
if ok == 1 and #KEYS == 3 then redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), ARGV[2]) end
return ok
`;

/** KEYS: lru, sizes, bytes. ARGV: data-key prefix, members... Reply: how many live data keys went. */
export const KV_DELETE_LIMITED = `
local deleted = 0
for i = 2, #ARGV do
  deleted = deleted + redis.call('DEL', ARGV[1] .. ARGV[i])
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    local size = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('DECRBY', KEYS[3], size)
  end
end
return deleted
`;

/** KEYS: lru, sizes, bytes. ARGV: data-key prefix, batch. Drops the books of expired members among the oldest `batch`. */
export const KV_SWEEP_LIMITED = `
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local removed = 0
for _, member in ipairs(members) do
  if redis.call('EXISTS', ARGV[1] .. member) == 0 then
    redis.call('ZREM', KEYS[1], member)
    local size = tonumber(redis.call('HGET', KEYS[2], member) or '0')
    redis.call('HDEL', KEYS[2], member)
    redis.call('DECRBY', KEYS[3], size)
    removed = removed + 1
  end
end
return removed
`;

/**
 * Move one counter from the key layout before hash tags to the tagged one, adding its value
 * (a reservation made meanwhile under the new key is kept) and keeping its expiry. KEYS: old,
 * new. Reply: 1 if moved. Only for a single Redis (the old keys never worked on Cluster).
 */
export const COUNTER_MIGRATE = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('INCRBYFLOAT', KEYS[2], value)
if ttl > 0 and redis.call('PTTL', KEYS[2]) == -1 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('DEL', KEYS[1])
return 1
`;

/* Leases: one key, its value the holder's token. */

/** KEYS: lease. ARGV: owner, ttl ms. Extends the lease only while `owner` holds it. Reply: 1 or 0. */
export const LEASE_RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: lease. ARGV: owner, marker ('' = none), marker ttl ms. Gives the lease up only while
 * `owner` holds it, leaving the marker in its place when one is given. Reply: 1 or 0.
 */
export const LEASE_RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
`;

/*
 * Circuit state shared by instances, three keys per upstream: `open` (present while the
 * cool-down runs; value: when it opened, epoch ms), `tripped` (present from opening until a
 * probe closes it, or its hold time passes), `probe` (the half-open probe's owner, SET NX).
 */

/**
 * KEYS: open, tripped, probe. ARGV: owner, probe ttl ms. Reply: {'closed'}, {'open', pttl,
 * openedAt}, {'probe'} (this caller now holds the probe) or {'busy', probe pttl}.
 */
export const CIRCUIT_ACQUIRE = `
local open = redis.call('PTTL', KEYS[1])
if open > 0 then return {'open', open, redis.call('GET', KEYS[1])} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'closed'} end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'probe'} end
return {'busy', redis.call('PTTL', KEYS[3])}
`;

/** KEYS: open, tripped, probe. ARGV: opened-at ms, cool-down ms, hold ms, owner of a failed probe ('' = none). */
export const CIRCUIT_OPEN = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]) + tonumber(ARGV[3]))
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1
`;

/**
 * KEYS: open, tripped, probe. ARGV: owner, '1' when its probe succeeded (close the circuit)
 * or '0' (only free the probe). Acts only while `owner` holds the probe. Reply: 1 or 0.
 */
export const CIRCUIT_SETTLE_PROBE = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) else redis.call('DEL', KEYS[3]) end
return 1
`;
