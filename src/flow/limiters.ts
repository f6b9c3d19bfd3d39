import type { FlowConfig } from './config.js';
import { ConcurrencyLimiter, type LimiterStats } from './limiter.js';

type Limits = { maxConcurrency?: number; maxQueue?: number };

/**
 * One limiter per upstream (made on first use from `flow.upstreams[name]` or `flow.defaults`),
 * plus one per model that has its own limits configured. Only configured models get an entry,
 * so client-chosen model names cannot grow these maps.
 */
export class LimiterRegistry {
  readonly #config: FlowConfig;
  readonly #byName = new Map<string, ConcurrencyLimiter>();
  readonly #upstreamChains = new Map<string, readonly ConcurrencyLimiter[]>();
  readonly #modelChains = new Map<string, readonly ConcurrencyLimiter[]>();

  constructor(config: FlowConfig) {
    this.#config = config;
  }

  /**
   * Limiters a request to `model` on `upstream` must pass, most specific first: the model's
   * (when configured) then the upstream's. A provider 429 is reported to the first.
   */
  chainFor(upstream: string, model: string): readonly ConcurrencyLimiter[] {
    let chain = this.#upstreamChains.get(upstream);
    if (chain === undefined) {
      const own = ownEntry(this.#config.upstreams, upstream);
      chain = [
        this.#limiter(upstream, {
          maxConcurrency: own?.maxConcurrency ?? this.#config.defaults.maxConcurrency,
          maxQueue: own?.maxQueue ?? this.#config.defaults.maxQueue,
        }),
      ];
      this.#upstreamChains.set(upstream, chain);
    }
    const modelLimits = ownEntry<Limits>(ownEntry(this.#config.upstreams, upstream)?.models, model);
    if (modelLimits === undefined) return chain;
    // Upstream names cannot contain `/` (config schema), so this name is unambiguous.
    const name = `${upstream}/${model}`;
    let modelChain = this.#modelChains.get(name);
    if (modelChain === undefined) {
      const upstreamLimiter = chain[0];
      modelChain = [
        this.#limiter(name, {
          maxConcurrency: modelLimits.maxConcurrency ?? upstreamLimiter.maxConcurrency,
          maxQueue: modelLimits.maxQueue ?? upstreamLimiter.maxQueue,
        }),
        upstreamLimiter,
      ];
      this.#modelChains.set(name, modelChain);
    }
    return modelChain;
  }

  /** Stats of every limiter made so far, keyed by `upstream` or `upstream/model`. */
  stats(): Record<string, LimiterStats> {
    const out: Record<string, LimiterStats> = {};
    for (const [name, limiter] of this.#byName) out[name] = limiter.stats();
    return out;
  }

  #limiter(name: string, limits: { maxConcurrency: number; maxQueue: number }): ConcurrencyLimiter {
    let limiter = this.#byName.get(name);
    if (limiter === undefined) {
      limiter = new ConcurrencyLimiter({
        name,
        ...limits,
        aimd: this.#config.aimd,
        deadlineAdmission: this.#config.deadlineAdmission,
      });
      this.#byName.set(name, limiter);
    }
    return limiter;
  }
}

/** Own-property lookup: a model called `constructor` must not find Object.prototype's. */
function ownEntry<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
