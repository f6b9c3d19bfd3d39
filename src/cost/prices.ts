/**
 * Model prices. The source is @pydantic/genai-prices (maintained data, bundled: works offline),
 * with per-model overrides from config for private deployments and models it lacks. A model's
 * price entry is resolved once and cached (the library's lookup costs ~20 µs; this path runs
 * twice per request). A model with no price anywhere resolves to `undefined`: callers record
 * it as unpriced, never as $0.
 */
import { calcPrice, type ModelInfo, type ModelPrice, type Provider } from '@pydantic/genai-prices';
import { compositeKey } from '../store/composite-key.js';
import type { ModelPriceConfig } from './config.js';

/** USD per million tokens of each kind, for one request. */
export interface Rates {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cacheWrite1h: number;
  /** Fixed USD per request. */
  perRequest: number;
}

export interface ModelPricing {
  /** Where the price came from. */
  source: 'config' | 'genai-prices';
  /** The price entry that matched (e.g. `claude-sonnet-4-0` for `claude-sonnet-4-20250514`). */
  matched: string;
  provider?: string;
  /** Rates for a request with `totalInputTokens` input tokens (long-context tiers), at time `at`. */
  ratesFor(totalInputTokens: number, at?: Date): Rates;
}

type Tiered = { base: number; tiers: Array<{ start: number; price: number }> };
type PriceValue = number | Tiered | undefined;

/** genai-prices' tier rule: the whole request is priced at the highest tier whose start it exceeds. */
function rateAt(value: PriceValue, totalInput: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  let rate = value.base;
  for (const tier of value.tiers) if (totalInput > tier.start) rate = tier.price;
  return rate;
}

function ratesFromModelPrice(price: ModelPrice, totalInput: number): Rates {
  const input = rateAt(price.input_mtok as PriceValue, totalInput) ?? 0;
  const cacheWrite = rateAt(price.cache_write_mtok as PriceValue, totalInput) ?? input;
  const perThousandRequests = rateAt(price.requests_kcount as PriceValue, totalInput);
  return {
    input,
    output: rateAt(price.output_mtok as PriceValue, totalInput) ?? 0,
    cacheRead: rateAt(price.cache_read_mtok as PriceValue, totalInput) ?? input,
    cacheWrite,
    cacheWrite1h: rateAt(price.cache_write_1h_mtok as PriceValue, totalInput) ?? cacheWrite,
    perRequest: perThousandRequests === undefined ? 0 : perThousandRequests / 1000,
  };
}

function fromLibrary(model: string, providerHint?: string): ModelPricing | undefined {
  const probe = { input_tokens: 1, output_tokens: 1 };
  const found =
    calcPrice(probe, model) ?? (providerHint ? calcPrice(probe, model, { providerId: providerHint }) : null);
  if (!found) return undefined;
  const info: ModelInfo = found.model;
  const provider: Provider = found.provider;
  if (!Array.isArray(info.prices)) {
    const fixed = info.prices;
    return {
      source: 'genai-prices',
      matched: info.id,
      provider: provider.id,
      ratesFor: (totalInput) => ratesFromModelPrice(fixed, totalInput),
    };
  }
  // Time-dependent prices (start dates, off-peak hours): let the library pick the period.
  const only: Provider = { ...provider, models: [info], fallback_model_providers: undefined };
  return {
    source: 'genai-prices',
    matched: info.id,
    provider: provider.id,
    ratesFor: (totalInput, at = new Date()) => {
      const priced = calcPrice(probe, model, { provider: only, timestamp: at });
      return ratesFromModelPrice(priced?.model_price ?? {}, totalInput);
    },
  };
}

function fromConfig(name: string, price: ModelPriceConfig): ModelPricing {
  const tiers = [...price.tiers].sort((a, b) => a.aboveInputTokens - b.aboveInputTokens);
  return {
    source: 'config',
    matched: name,
    ratesFor(totalInput) {
      let input = price.inputPerMTok;
      let output = price.outputPerMTok;
      let cacheRead = price.cacheReadPerMTok;
      let cacheWrite = price.cacheWritePerMTok;
      let cacheWrite1h = price.cacheWrite1hPerMTok;
      for (const tier of tiers) {
        if (totalInput <= tier.aboveInputTokens) break;
        input = tier.inputPerMTok ?? input;
        output = tier.outputPerMTok ?? output;
        cacheRead = tier.cacheReadPerMTok ?? cacheRead;
        cacheWrite = tier.cacheWritePerMTok ?? cacheWrite;
        cacheWrite1h = tier.cacheWrite1hPerMTok ?? cacheWrite1h;
      }
      const write = cacheWrite ?? input;
      return {
        input,
        output,
        cacheRead: cacheRead ?? input,
        cacheWrite: write,
        cacheWrite1h: cacheWrite1h ?? write,
        perRequest: price.perRequestUsd ?? 0,
      };
    },
  };
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 'i');
}

export interface PriceBookOptions {
  /** Price overrides by exact model name or `*` glob (config `cost.prices`). */
  overrides?: Readonly<Record<string, ModelPriceConfig>>;
  /** Cached lookups at most (models seen are few; this only bounds abuse with random names). */
  maxEntries?: number;
}

/** Resolves and caches each model's pricing. One per gateway. */
export class PriceBook {
  readonly #exact = new Map<string, ModelPricing>();
  readonly #globs: Array<{ re: RegExp; pricing: ModelPricing }> = [];
  readonly #cache = new Map<string, ModelPricing | null>();
  readonly #maxEntries: number;

  constructor(options: PriceBookOptions = {}) {
    for (const [name, price] of Object.entries(options.overrides ?? {})) {
      const pricing = fromConfig(name, price);
      if (name.includes('*')) this.#globs.push({ re: globToRegExp(name), pricing });
      else this.#exact.set(name.toLowerCase(), pricing);
    }
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  /**
   * Pricing of `model`, or undefined when no source knows it. `providerHint` (a genai-prices
   * provider id such as `openai` or `anthropic`) is tried when the name alone does not match.
   */
  lookup(model: string, providerHint?: string): ModelPricing | undefined {
    // A model name may hold any character: a raw join could let `openai\0x` (no hint) answer for
    // `x` with hint `openai`.
    const key = providerHint ? compositeKey('hint', providerHint, model) : compositeKey('name', model);
    const cached = this.#cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.#resolve(model, providerHint);
    if (this.#cache.size >= this.#maxEntries) this.#cache.clear();
    this.#cache.set(key, found ?? null);
    return found;
  }

  #resolve(model: string, providerHint?: string): ModelPricing | undefined {
    const exact = this.#exact.get(model.toLowerCase());
    if (exact) return exact;
    for (const g of this.#globs) if (g.re.test(model)) return g.pricing;
    return fromLibrary(model, providerHint);
  }
}
