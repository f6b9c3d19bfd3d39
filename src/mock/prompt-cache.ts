import { createHash, type Hash } from 'node:crypto';
import { BoundedMap } from './bounded-map.js';
import type { Conversation } from './conversation.js';
import { PER_MESSAGE } from './prompt-tokens.js';
import { tokensOf } from './tokens.js';

export interface CacheUsage {
  /** Prompt tokens read from the cache (a prefix seen before and still alive). */
  read: number;
  /** Prompt tokens written to the cache (from the read prefix to the last breakpoint). */
  creation: number;
}

const NONE: CacheUsage = { read: 0, creation: 0 };

/** Upstream looks for hits at each breakpoint and up to 20 blocks before it. */
const LOOKBACK_BLOCKS = 20;

/**
 * Anthropic's prompt caching as its usage reports it. Each `cache_control` block ends a
 * prefix that is written to the cache; a request reads the longest live prefix found at a
 * breakpoint or up to 20 block boundaries before one, so a conversation that moves its
 * breakpoint to the newest turn still reads the earlier turns. Prefixes under the minimum
 * length are not cached; a hit refreshes the TTL.
 * https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
 */
export class PromptCacheSimulator {
  // prefix digest → expiry (epoch ms)
  readonly #seen = new BoundedMap<string, number>(4096);

  constructor(
    private readonly minTokens: number,
    private readonly ttlMs: number,
  ) {}

  account(c: Conversation): CacheUsage {
    if (!c.hasCacheControl) return NONE;
    const bounds = c.boundaries;
    // Boundaries worth a digest: the explicit ones and the lookback window before each.
    const wanted = new Uint8Array(bounds.length);
    for (let k = 0; k < bounds.length; k++) {
      if (!bounds[k].explicit) continue;
      for (let j = Math.max(0, k - LOOKBACK_BLOCKS); j <= k; j++) wanted[j] = 1;
    }
    // One pass: running token count and running hash of the fingerprint.
    const tokens = new Array<number>(bounds.length);
    const keys = new Array<string | undefined>(bounds.length);
    const hash: Hash = createHash('sha1');
    let textTokens = 0;
    let textsDone = 0;
    let hashedTo = 0;
    for (let j = 0; j < bounds.length; j++) {
      const b = bounds[j];
      for (; textsDone < b.textsEnd; textsDone++) textTokens += tokensOf(c.texts[textsDone]);
      tokens[j] = textTokens + b.messagesBefore * PER_MESSAGE + b.fixedTokensBefore;
      if (wanted[j] === 0 || tokens[j] < this.minTokens) continue;
      hash.update(c.fingerprint.slice(hashedTo, b.fingerprintEnd));
      hashedTo = b.fingerprintEnd;
      keys[j] = hash.copy().digest('base64');
    }

    const now = Date.now();
    let read = 0;
    let written = 0;
    for (let k = 0; k < bounds.length; k++) {
      const key = keys[k];
      if (!bounds[k].explicit || key === undefined) continue;
      for (let j = k; j >= Math.max(0, k - LOOKBACK_BLOCKS); j--) {
        const candidate = keys[j];
        const expiry = candidate === undefined ? undefined : this.#seen.get(candidate);
        if (candidate !== undefined && expiry !== undefined && expiry > now) {
          read = Math.max(read, tokens[j]);
          this.#seen.set(candidate, now + this.ttlMs);
          break;
        }
      }
      this.#seen.set(key, now + this.ttlMs);
      written = tokens[k];
    }
    return { read, creation: Math.max(0, written - read) };
  }

  clear(): void {
    this.#seen.clear();
  }
}
