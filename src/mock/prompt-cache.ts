import { BoundedMap } from './bounded-map.js';
import type { Conversation } from './conversation.js';
import { prefixTokens } from './prompt-tokens.js';
import { digest } from './random.js';

export interface CacheUsage {
  /** Prompt tokens read from the cache (a prefix seen before and still alive). */
  read: number;
  /** Prompt tokens written to the cache (from the read prefix to the last breakpoint). */
  creation: number;
}

const NONE: CacheUsage = { read: 0, creation: 0 };

/**
 * Anthropic's prompt caching as its usage reports it: each `cache_control` block ends a
 * prefix; the longest prefix seen within the TTL is read, the rest up to the last
 * breakpoint is written. Prefixes under the minimum length are not cached, as upstream.
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
    if (c.cacheBreaks.length === 0) return NONE;
    const now = Date.now();
    let read = 0;
    let written = 0;
    for (const at of c.cacheBreaks) {
      const tokens = prefixTokens(c, at.textsEnd, at.messagesBefore, at.fixedTokensBefore);
      if (tokens < this.minTokens) continue;
      const key = digest(c.fingerprint.slice(0, at.fingerprintEnd)).key;
      const expiry = this.#seen.get(key);
      if (expiry !== undefined && expiry > now) read = tokens;
      this.#seen.set(key, now + this.ttlMs); // a hit refreshes the TTL, as upstream
      written = tokens;
    }
    return { read, creation: Math.max(0, written - read) };
  }

  clear(): void {
    this.#seen.clear();
  }
}
