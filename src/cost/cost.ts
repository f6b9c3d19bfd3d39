/**
 * Cost of a call from its normalised usage: each kind of token at its own rate. Money is
 * carried as USD numbers for display and as integer nano-dollars (1e-9 USD) wherever it is
 * summed or compared (budgets, reports), so sums are exact and independent of order.
 */
import type { Usage } from '../pipeline/types.js';
import type { ModelPricing, Rates } from './prices.js';

export interface PricedCost {
  unpriced: false;
  inputUsd: number;
  cacheReadUsd: number;
  cacheWriteUsd: number;
  outputUsd: number;
  /** Fixed per-request fee, if the model has one. */
  requestUsd: number;
  totalUsd: number;
  /**
   * What provider prompt caching (L3) saved on this call against paying full input price:
   * cache reads' discount minus cache writes' surcharge. Negative when writes cost more than
   * reads saved (the first call of a cached prefix).
   */
  promptCacheSavedUsd: number;
}

export type Cost = PricedCost | { unpriced: true };

export const NANO = 1e9;
export const toNano = (usd: number): number => Math.round(usd * NANO);
export const fromNano = (nano: number): number => nano / NANO;

const perToken = (tokens: number, perMTok: number): number => (tokens * perMTok) / 1e6;

/** Price `usage` with `pricing`; undefined pricing means the model is unpriced. */
export function costOf(usage: Usage, pricing: ModelPricing | undefined, at?: Date): Cost {
  if (!pricing) return { unpriced: true };
  const totalInput = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  return priceWith(usage, pricing.ratesFor(totalInput, at));
}

export function priceWith(usage: Usage, rates: Rates): PricedCost {
  const oneHour = Math.min(usage.cacheWrite1hTokens ?? 0, usage.cacheWriteTokens);
  const fiveMinute = usage.cacheWriteTokens - oneHour;
  const inputUsd = perToken(usage.inputTokens, rates.input);
  const cacheReadUsd = perToken(usage.cacheReadTokens, rates.cacheRead);
  const cacheWriteUsd = perToken(fiveMinute, rates.cacheWrite) + perToken(oneHour, rates.cacheWrite1h);
  const outputUsd = perToken(usage.outputTokens, rates.output);
  const requestUsd = rates.perRequest;
  const promptCacheSavedUsd =
    perToken(usage.cacheReadTokens, rates.input - rates.cacheRead) -
    perToken(fiveMinute, rates.cacheWrite - rates.input) -
    perToken(oneHour, rates.cacheWrite1h - rates.input);
  return {
    unpriced: false,
    inputUsd,
    cacheReadUsd,
    cacheWriteUsd,
    outputUsd,
    requestUsd,
    totalUsd: inputUsd + cacheReadUsd + cacheWriteUsd + outputUsd + requestUsd,
    promptCacheSavedUsd,
  };
}

/** Which cache-write rate a request may be billed at (Anthropic breakpoints present or to be added). */
export type CacheWriteExposure = 'none' | '5m' | '1h';

/**
 * The most a request can cost: every prompt token at the highest input rate it could be billed
 * at (a cache write costs more than plain input) plus `maxOutputTokens` at the output rate.
 * This is the budget reservation, so it must never be below the real cost.
 */
export function maxCostUsd(
  pricing: ModelPricing,
  promptTokens: number,
  maxOutputTokens: number,
  writes: CacheWriteExposure = 'none',
  at?: Date,
): number {
  const r = pricing.ratesFor(promptTokens, at);
  let inputRate = Math.max(r.input, r.cacheRead);
  if (writes !== 'none') inputRate = Math.max(inputRate, r.cacheWrite);
  if (writes === '1h') inputRate = Math.max(inputRate, r.cacheWrite1h);
  return perToken(promptTokens, inputRate) + perToken(maxOutputTokens, r.output) + r.perRequest;
}
