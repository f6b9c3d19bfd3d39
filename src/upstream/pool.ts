import { Pool } from 'undici';
import type { Config, UpstreamConfig } from '../config/index.js';
import type { SharedCircuitStore } from '../store/types.js';
import { CircuitBreaker, type CircuitSnapshot } from './circuit-breaker.js';
import { apiBasePath } from './providers.js';
import { SecretScrubber } from './scrub.js';

/** An upstream ready to take requests: its keep-alive pool and resolved settings. */
export interface UpstreamTarget {
  readonly config: UpstreamConfig;
  readonly pool: Pool;
  /** Path prefix of every request, e.g. `/v1` (see `apiBasePath`). */
  readonly basePath: string;
  /** Resolved from `apiKeyEnv` at boot; never logged. */
  readonly apiKey: string | undefined;
  readonly timeouts: Config['timeouts'];
  readonly retry: Config['retry'];
  /** Undefined when the breaker is turned off for this upstream. */
  readonly breaker: CircuitBreaker | undefined;
}

/** What makes circuits shared between instances (the Redis store), when there is one. */
export interface SharedCircuits {
  circuit(upstream: string): SharedCircuitStore;
  onError?(error: unknown): void;
}

/** A probe holds the half-open slot this much past the longest an attempt can wait for headers. */
const PROBE_MARGIN_MS = 5_000;

/** One undici pool per upstream, created at boot and closed at shutdown. */
export class UpstreamPools {
  readonly #targets = new Map<string, UpstreamTarget>();
  /** Removes these keys from whatever an upstream sends back before a client sees it. */
  readonly scrubber: SecretScrubber;

  constructor(
    config: Pick<Config, 'upstreams' | 'timeouts' | 'retry' | 'circuitBreaker'>,
    env: NodeJS.ProcessEnv = process.env,
    shared?: SharedCircuits,
  ) {
    for (const upstream of config.upstreams) {
      const url = new URL(upstream.baseUrl);
      const timeouts = { ...config.timeouts, ...upstream.timeouts };
      const breaker = { ...config.circuitBreaker, ...upstream.circuitBreaker };
      const pool = new Pool(url.origin, {
        connections: upstream.connections,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: timeouts.connectMs },
        headersTimeout: timeouts.firstByteMs,
        bodyTimeout: timeouts.idleMs,
      });
      this.#targets.set(upstream.name, {
        config: upstream,
        pool,
        basePath: apiBasePath(upstream.kind, upstream.baseUrl),
        apiKey: upstream.apiKeyEnv ? env[upstream.apiKeyEnv] : undefined,
        timeouts,
        retry: { ...config.retry, ...upstream.retry },
        breaker: breaker.enabled
          ? new CircuitBreaker({
              ...breaker,
              shared: shared?.circuit(upstream.name),
              probeTtlMs: timeouts.firstByteMs + PROBE_MARGIN_MS,
              onSharedError: shared?.onError,
            })
          : undefined,
      });
    }
    this.scrubber = new SecretScrubber(this.secrets());
  }

  get(name: string): UpstreamTarget {
    const target = this.#targets.get(name);
    if (!target) throw new Error(`unknown upstream ${name}`);
    return target;
  }

  /** For `/v1/stats`: each upstream's circuit (absent when its breaker is off). */
  circuits(): Record<string, CircuitSnapshot> {
    const out: Record<string, CircuitSnapshot> = {};
    for (const [name, target] of this.#targets) if (target.breaker) out[name] = target.breaker.snapshot();
    return out;
  }

  /** Keys resolved at boot; the logger redacts them wherever they might appear. */
  secrets(): string[] {
    return [...this.#targets.values()].flatMap((t) => (t.apiKey ? [t.apiKey] : []));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#targets.values()].map((t) => t.pool.close()));
  }
}
