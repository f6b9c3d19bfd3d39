/**
 * The shaping stage for long prompts: the opt-in system-prompt trim, then the opt-in history
 * compression. Compression is on for a request when `x-sluice-compress: on` says so, else when
 * the caller's key says so (`compress`), else when `tokens.compression.enabled` is set for the
 * route; `x-sluice-compress: off` always wins. A failing summariser never fails the request: it
 * goes on uncompressed.
 */
import { DIALECTS } from '../dialect/index.js';
import type { RequestContext, Stage } from '../pipeline/types.js';
import type { KvStore } from '../store/types.js';
import { compressHistory, type Summariser } from './compress.js';
import type { TokensConfig } from './config.js';
import { countRequestTokens, promptTokens, textCounter } from './count.js';
import { trimSystemPrompts } from './system-trim.js';

export interface CompressionStageDeps {
  config: TokensConfig;
  summarise: Summariser;
  /** Summaries kept for reuse (a KV namespace of the shared store). */
  store?: KvStore;
  /** The model to count tokens for (an alias such as `auto` is resolved later, by routing). */
  countModel?: (ctx: RequestContext) => string;
  logger?: { warn(obj: object, msg?: string): void };
}

export function compressionWanted(ctx: RequestContext, config: TokensConfig): boolean {
  const header = ctx.headers['x-sluice-compress'];
  if (typeof header === 'string') {
    const v = header.trim().toLowerCase();
    if (v === 'on' || v === 'true' || v === '1') return true;
    if (v === 'off' || v === 'false' || v === '0') return false;
  }
  const key = ctx.virtualKey;
  if (key?.compress !== undefined) return key.compress;
  return config.compression.enabled && (config.compression.routes as readonly string[]).includes(ctx.route);
}

export function compressionStage(deps: CompressionStageDeps): Stage {
  const { config } = deps;
  const shape: Stage = async (ctx, next) => {
    const model = deps.countModel?.(ctx) ?? ctx.model;
    // The request as it stands is counted once per request (the budget stage may have counted
    // it already, for the same model); trimmed or compressed candidates are counted afresh.
    const countBody = (body: Record<string, unknown>) =>
      body === ctx.body
        ? promptTokens(ctx, model, config.estimateFactor).tokens
        : countRequestTokens(ctx.dialect, ctx.route, body, {
            model,
            estimateFactor: config.estimateFactor,
          }).tokens;

    if (config.systemTrim.enabled) {
      const trimmed = trimSystemPrompts(
        ctx.dialect,
        ctx.body,
        config.systemTrim,
        textCounter(model, config.estimateFactor),
      );
      if (trimmed) {
        ctx.body = trimmed.body;
        ctx.responseHeaders['x-sluice-system-trimmed'] = String(trimmed.trimmed);
      }
    }

    if (compressionWanted(ctx, config)) {
      try {
        const result = await compressHistory({
          dialect: ctx.dialect,
          body: ctx.body,
          config: config.compression,
          count: countBody,
          summarise: deps.summarise,
          caller: ctx.caller,
          parent: ctx,
          store: deps.store,
        });
        if (result) {
          ctx.body = result.body;
          ctx.responseHeaders['x-sluice-compression'] = `${result.tokensBefore}->${result.tokensAfter}`;
        }
      } catch (err) {
        deps.logger?.warn(
          { err, requestId: ctx.id },
          'history compression failed; sending the request uncompressed',
        );
      }
    }
    return next();
  };
  return (ctx, next) => {
    // The summariser's own call comes through the pipeline too: never compress it. Embeddings
    // and legacy completions have no conversation to compress; a dialect may not be shaped at
    // all (Responses input items). With both features off for this request there is nothing to count.
    if (
      ctx.route === 'embeddings' ||
      ctx.route === 'completions' ||
      !DIALECTS[ctx.dialect].promptShaping ||
      ctx.purpose === 'summary' ||
      (!config.systemTrim.enabled && !compressionWanted(ctx, config))
    )
      return next();
    return shape(ctx, next);
  };
}
