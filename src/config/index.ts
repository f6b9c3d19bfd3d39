import type { z } from 'zod';
import { authConfigSchema } from '../auth/config.js';
import { cacheConfigSchema } from '../cache/config.js';
import { semanticCacheConfigSchema } from '../cache/semantic/config.js';
import { costConfigSchema } from '../cost/config.js';
import { translationConfigSchema } from '../dialect/translate/config.js';
import { flowConfigSchema } from '../flow/config.js';
import { observeConfigSchema } from '../observe/config.js';
import { routingConfigSchema } from '../route/config.js';
import { tokensConfigSchema } from '../tokens/config.js';
import { coreConfigSchema } from './schema.js';

/**
 * The root config: the core (server, upstreams, timeouts) plus one section per feature area,
 * each defined beside the code it configures. Every section defaults, so `{}` is a valid config.
 */
export const configSchema = coreConfigSchema.extend({
  auth: authConfigSchema.describe('Callers: virtual keys, when they are required, users, tiers.'),
  cache: cacheConfigSchema.describe('Exact cache (L1) and single-flight.'),
  semantic: semanticCacheConfigSchema.describe('Semantic cache (L2), off by default.'),
  flow: flowConfigSchema.describe('Concurrency, queues, rate limits, AIMD, shutdown.'),
  cost: costConfigSchema.describe('Prices and budgets.'),
  tokens: tokensConfigSchema.describe(
    'Token counting, history compression, system-prompt trim, prompt-cache shaping.',
  ),
  routing: routingConfigSchema.describe('Model aliases routed by request complexity.'),
  translation: translationConfigSchema
    .default({ defaultMaxTokens: 4096 })
    .describe(
      'Calls translated between the OpenAI and Anthropic dialects (a model only the other kind of upstream serves; docs/translation.md).',
    ),
  observe: observeConfigSchema
    .default({
      metrics: { enabled: true, maxModels: 50 },
      tracing: { headers: {} },
      requestLog: { enabled: true, level: 'info', content: false },
      langfuse: { content: true },
      redact: [],
    })
    .describe('Metrics, traces, the per-request log line, Langfuse (docs/observability.md).'),
});
export type Config = z.infer<typeof configSchema>;
export type { UpstreamConfig, UpstreamKind } from './schema.js';
