/**
 * Watches how well each caller uses the providers' prompt caches (L3). OpenAI caches prompt
 * prefixes of 1,024+ tokens automatically, but only if the prefix stays the same from call to
 * call; a caller that puts changing content (timestamps, the user's question) first gets no
 * cache hits. This flags callers whose eligible requests mostly miss, says whether their prefix
 * keeps changing, and reports the money prompt caching saved. Exposed through `stats()` for
 * `/v1/stats` and logged once when a caller becomes flagged.
 */
import { createHash } from 'node:crypto';
import type { CallObserver } from '../cost/record-stage.js';
import type { Dialect, RequestContext } from '../pipeline/types.js';
import type { PromptCacheConfig } from './config.js';
import { DIALECTS } from '../dialect/index.js';
import { contentText, isSystemRole, messagesOf } from '../dialect/messages.js';

/** OpenAI caches prompts of 1,024 tokens or more: shorter ones are not sampled. */
export const CACHEABLE_PROMPT_TOKENS = 1024;
const PREFIX_CHARS = 4096;

/** A short hash of the request's leading content, in the order providers cache it (tools, system, messages). */
export function prefixFingerprint(dialect: Dialect, body: Record<string, unknown>): string {
  const spec = DIALECTS[dialect];
  let s = Array.isArray(body.tools) ? JSON.stringify(body.tools).slice(0, PREFIX_CHARS) : '';
  if (s.length < PREFIX_CHARS) s += `\0${spec.systemText(body)}`;
  // System messages are already in the system text: counted once, where providers cache them.
  const skipSystemMessages = spec.systemPrompt.in === 'messages';
  for (const m of messagesOf(body)) {
    if (s.length >= PREFIX_CHARS) break;
    if (skipSystemMessages && isSystemRole(m.role)) continue;
    s += `\0${String(m.role)}:${contentText(m.content)}`;
  }
  return createHash('sha1').update(s.slice(0, PREFIX_CHARS)).digest('hex').slice(0, 16);
}

interface Sample {
  prefix: string;
  promptTokens: number;
  cachedTokens: number;
}

interface CallerStats {
  samples: Sample[];
  next: number;
  savedUsd: number;
  flagged: boolean;
}

export interface CallerCacheStats {
  user: string;
  eligible_requests: number;
  cached_token_ratio: number;
  distinct_prefixes: number;
  prompt_cache_saved_usd: number;
  warning?: string;
}

export class PromptCacheMonitor {
  readonly #config: PromptCacheConfig['lowHitRate'];
  readonly #logger: { warn(obj: object, msg?: string): void } | undefined;
  readonly #callers = new Map<string, CallerStats>();
  readonly #maxCallers: number;

  constructor(
    config: PromptCacheConfig['lowHitRate'],
    options: { logger?: { warn(obj: object, msg?: string): void }; maxCallers?: number } = {},
  ) {
    this.#config = config;
    this.#logger = options.logger;
    this.#maxCallers = options.maxCallers ?? 10_000;
  }

  /** Plug into the record stage's observers. */
  readonly observer: CallObserver = (ctx: RequestContext, row) => {
    if (row.outcome !== 'ok' || row.cache === 'exact' || row.cache === 'semantic' || row.usageEstimated)
      return;
    const prompt = row.inputTokens + row.cacheReadTokens + row.cacheWriteTokens;
    if (prompt < CACHEABLE_PROMPT_TOKENS) return;
    const prefix = ctx.promptPrefix ?? prefixFingerprint(ctx.dialect, ctx.body);
    this.record(
      row.user,
      { prefix, promptTokens: prompt, cachedTokens: row.cacheReadTokens },
      row.promptCacheSavedUsd,
    );
  };

  record(user: string, sample: Sample, savedUsd = 0): void {
    let s = this.#callers.get(user);
    if (!s) {
      if (this.#callers.size >= this.#maxCallers)
        this.#callers.delete(this.#callers.keys().next().value as string);
      s = { samples: [], next: 0, savedUsd: 0, flagged: false };
      this.#callers.set(user, s);
    }
    if (s.samples.length < this.#config.window) s.samples.push(sample);
    else s.samples[s.next] = sample;
    s.next = (s.next + 1) % this.#config.window;
    s.savedUsd += savedUsd;
    const view = this.#view(user, s);
    if (view.warning && !s.flagged) this.#logger?.warn(view, 'low prompt-cache hit rate');
    s.flagged = view.warning !== undefined;
  }

  stats(): { callers: CallerCacheStats[]; low_hit_rate: string[] } {
    const callers = [...this.#callers].map(([user, s]) => this.#view(user, s));
    return { callers, low_hit_rate: callers.filter((c) => c.warning).map((c) => c.user) };
  }

  #view(user: string, s: CallerStats): CallerCacheStats {
    let prompt = 0;
    let cached = 0;
    const prefixes = new Set<string>();
    for (const x of s.samples) {
      prompt += x.promptTokens;
      cached += x.cachedTokens;
      prefixes.add(x.prefix);
    }
    const ratio = prompt > 0 ? cached / prompt : 0;
    const out: CallerCacheStats = {
      user,
      eligible_requests: s.samples.length,
      cached_token_ratio: ratio,
      distinct_prefixes: prefixes.size,
      prompt_cache_saved_usd: Math.round(s.savedUsd * 1e9) / 1e9,
    };
    if (s.samples.length >= this.#config.minRequests && ratio < this.#config.threshold) {
      out.warning =
        prefixes.size > s.samples.length / 2
          ? `prompt prefixes keep changing (${prefixes.size} distinct in ${s.samples.length} requests): put static content (tools, system prompt, documents) first and variable content last`
          : `only ${(ratio * 100).toFixed(1)}% of prompt tokens were read from the provider's cache`;
    }
    return out;
  }
}
