import { createHash } from 'node:crypto';

/** A 32-bit digest and a printable key of some text: the seed of everything "random" in a reply. */
export interface Digest {
  /** Map key (base64 of SHA-1). */
  key: string;
  /** First 32 bits, unsigned: seeds the PRNG. */
  seed: number;
}

export function digest(text: string): Digest {
  const bytes = createHash('sha1').update(text).digest();
  return { key: bytes.toString('base64'), seed: bytes.readUInt32LE(0) };
}

/**
 * mulberry32: a tiny, fast, seedable PRNG (public domain, by Tommy Ettinger). Good enough
 * for choosing words and drawing faults; never for anything secret.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Pick one element with `rand` (which returns [0, 1)). */
export function pick<T>(items: readonly T[], rand: () => number): T {
  return items[Math.floor(rand() * items.length)];
}
