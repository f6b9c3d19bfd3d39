/**
 * The dialect layer: every OpenAI and Anthropic shape the gateway reads or writes lives under
 * `src/dialect/`, one module per dialect behind `DialectSpec` (types.ts). Other folders take
 * `DIALECTS[ctx.dialect]` and keep no dialect branches of their own. A new dialect is added by implementing `DialectSpec` and naming it here: `satisfies`
 * refuses to compile until it is.
 */
import { anthropic } from './anthropic.js';
import { openai } from './openai.js';
import { responses } from './responses.js';
import type { Dialect, DialectSpec, RouteName, RouteSpec, Usage } from './types.js';

export const DIALECTS = { openai, anthropic, responses } as const satisfies Record<Dialect, DialectSpec>;

/** The dialect each route speaks. */
export const ROUTE_DIALECT = {
  chat: 'openai',
  messages: 'anthropic',
  embeddings: 'openai',
  completions: 'openai',
  responses: 'responses',
} as const satisfies Record<RouteName, Dialect>;

export function dialectOf(dialect: Dialect): DialectSpec {
  return DIALECTS[dialect];
}

/** The schema, refused fields and cache-key table of a route. */
export function routeSpec(route: RouteName): RouteSpec {
  const spec: Partial<Record<RouteName, RouteSpec>> = DIALECTS[ROUTE_DIALECT[route]].routes;
  const found = spec[route];
  if (!found) throw new TypeError(`dialect ${ROUTE_DIALECT[route]} does not define route ${route}`);
  return found;
}

/** The one usage normaliser: a provider `usage` object of `dialect` → `Usage` (undefined if none). */
export function normaliseUsage(dialect: Dialect, raw: unknown): Usage | undefined {
  return DIALECTS[dialect].usage(raw);
}

export type {
  Aggregate,
  Dialect,
  DialectSpec,
  ParsedEvent,
  PromptCacheRules,
  ProviderWire,
  RouteName,
  RouteSpec,
  StreamAggregator,
  StreamUsagePatch,
  SystemPromptPlacement,
  TokenCounting,
  Usage,
} from './types.js';
export { hasTokens, totalInputTokens, ZERO_USAGE } from './usage.js';
