/**
 * The prompt-cache shaping stage (L3). Anthropic: optionally insert `cache_control`
 * breakpoints (see prompt-cache.ts). OpenAI: caching is automatic and `prompt_cache_key` is
 * passed through untouched; the stage only fingerprints the prefix of a prompt long enough to be
 * cached, so the monitor can tell a caller whose prefixes keep changing.
 */
import { DIALECTS } from '../dialect/index.js';
import type { RequestContext, Stage } from '../pipeline/types.js';
import type { PromptCacheConfig } from './config.js';
import { textCounter } from './count.js';
import { insertCacheBreakpoints } from './prompt-cache.js';
import { CACHEABLE_PROMPT_TOKENS, prefixFingerprint } from './prompt-cache-monitor.js';

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 'i');
}

/** Shortest cacheable prefix for `model`, from `minTokensByModel` (first matching glob) or `minTokens`. */
export function minCacheableTokens(config: PromptCacheConfig): (model: string) => number {
  const rules = Object.entries(config.minTokensByModel).map(([glob, n]) => ({ re: globToRegExp(glob), n }));
  return (model) => rules.find((r) => r.re.test(model))?.n ?? config.minTokens;
}

export function promptCacheStage(
  config: PromptCacheConfig,
  options: { estimateFactor?: number; fingerprint?: boolean } = {},
): Stage {
  const minFor = minCacheableTokens(config);
  const fingerprint = options.fingerprint ?? true;
  const breakpoints = config.anthropicBreakpoints;
  return (ctx, next) => {
    if (ctx.route !== 'chat' && ctx.route !== 'messages') return next();
    if (breakpoints && DIALECTS[ctx.dialect].promptCache.breakpoints) {
      const result = insertCacheBreakpoints(ctx.body, {
        minTokens: minFor(ctx.model),
        documentMinTokens: config.documentMinTokens,
        ttl: config.ttl,
        countText: textCounter(ctx.model, options.estimateFactor),
      });
      if (result.added.length > 0) {
        ctx.body = result.body;
        ctx.responseHeaders['x-sluice-cache-breakpoints'] = result.added.join(',');
      }
    }
    if (fingerprint && mayBeCacheable(ctx)) ctx.promptPrefix = prefixFingerprint(ctx.dialect, ctx.body);
    return next();
  };
}

/**
 * Whether the prompt could reach the shortest prefix a provider caches, judged by the size of
 * the request as sent: a token is at least one byte of its text, and the JSON around the text
 * outweighs the per-message framing tokens. Shaping only shortens a prompt (or adds a few bytes:
 * a model name, a max-tokens field), so a short request's prefix need not be hashed here. Should
 * one still be billed 1,024+ tokens (image parts are small in bytes), the monitor hashes the same
 * body itself. In-process calls have no bytes: they are hashed here as before.
 */
function mayBeCacheable(ctx: RequestContext): boolean {
  return ctx.rawBody === undefined || ctx.rawBody.byteLength >= CACHEABLE_PROMPT_TOKENS;
}
