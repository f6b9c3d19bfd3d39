/** Epoch ms at which an entry written now with `ttlSeconds` expires; 0 = never (ttl <= 0). */
export function expiresAtFor(ttlSeconds: number, now: number): number {
  return ttlSeconds > 0 ? now + Math.max(1, Math.round(ttlSeconds * 1000)) : 0;
}

export const isLive = (expiresAt: number, now: number): boolean => expiresAt === 0 || expiresAt > now;

/** Check a namespace's limits once, when the store is created (STYLE §2: factories validate). */
export function checkLimits(limits: { maxEntries?: number; maxBytes?: number }): {
  maxEntries: number;
  maxBytes: number;
} {
  const maxEntries = limits.maxEntries ?? Number.POSITIVE_INFINITY;
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  if (!(maxEntries > 0)) throw new TypeError(`maxEntries must be > 0, got ${maxEntries}`);
  if (!(maxBytes > 0)) throw new TypeError(`maxBytes must be > 0, got ${maxBytes}`);
  return { maxEntries, maxBytes };
}
