import type { IncomingHttpHeaders } from 'node:http';
import { defaultMessage, type ErrorSpec } from './errors.js';
import { seededRandom } from './random.js';

/** What goes wrong with one request. */
export type Fault =
  | { kind: 'status'; error: ErrorSpec }
  | { kind: 'slow'; ms: number }
  | { kind: 'drop' }
  | { kind: 'hang' }
  | { kind: 'drop-mid-stream' };

export interface FaultRates {
  rate429: number;
  rate500: number;
  rateSlow: number;
  rateDrop: number;
  retryAfterSeconds: number;
  slowMs: number;
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

function checkedRates(rates: FaultRates): FaultRates {
  for (const [name, value] of Object.entries(rates)) {
    if (!(Number.isFinite(value) && value >= 0)) throw new TypeError(`faults.${name} must be a number >= 0`);
  }
  const total = rates.rate429 + rates.rate500 + rates.rateSlow + rates.rateDrop;
  if (total > 1) throw new TypeError(`fault rates add up to ${total}, more than 1`);
  return { ...rates };
}

const anyRate = (rates: FaultRates): boolean =>
  rates.rate429 + rates.rate500 + rates.rateSlow + rates.rateDrop > 0;

/**
 * Decides each request's fault: from its `x-mock-*` headers when present, otherwise from
 * the global rates, drawn with a seeded PRNG so a run's sequence of faults repeats.
 */
export class FaultInjector {
  #rates: FaultRates;
  readonly #seed: number;
  #anyRate: boolean;
  #rand: () => number;
  // x-mock-fail-key → failures already served.
  readonly #failures = new Map<string, number>();

  constructor(rates: FaultRates, seed: number) {
    this.#rates = checkedRates(rates);
    this.#anyRate = anyRate(rates);
    this.#seed = seed;
    this.#rand = seededRandom(seed);
  }

  /** Change the global rates from now on (a fault that lasts a period: set, wait, set back). */
  setRates(rates: Partial<FaultRates>): void {
    this.#rates = checkedRates({ ...this.#rates, ...rates });
    this.#anyRate = anyRate(this.#rates);
  }

  decide(headers: IncomingHttpHeaders): Fault | undefined {
    const named = header(headers, 'x-mock-fault');
    const failTimes = header(headers, 'x-mock-fail-times');
    if (failTimes !== undefined) {
      const limit = Number(failTimes);
      if (!Number.isInteger(limit) || limit < 0) {
        return { kind: 'status', error: { status: 400, message: `Bad x-mock-fail-times: ${failTimes}` } };
      }
      const key = header(headers, 'x-mock-fail-key') ?? '';
      const served = this.#failures.get(key) ?? 0;
      if (served >= limit) return undefined;
      this.#failures.set(key, served + 1);
      return this.#named(named ?? '429', headers);
    }
    if (named !== undefined) return this.#named(named, headers);
    return this.#anyRate ? this.#draw() : undefined;
  }

  /** Forget fail-times counters and restart the PRNG sequence. */
  reset(): void {
    this.#failures.clear();
    this.#rand = seededRandom(this.#seed);
  }

  #named(name: string, headers: IncomingHttpHeaders): Fault {
    switch (name) {
      case 'slow': {
        const ms = Number(header(headers, 'x-mock-slow-ms') ?? this.#rates.slowMs);
        return { kind: 'slow', ms: Number.isFinite(ms) ? ms : this.#rates.slowMs };
      }
      case 'drop':
      case 'hang':
      case 'drop-mid-stream':
        return { kind: name };
    }
    const status = /^[1-5]\d\d$/.test(name) ? Number(name) : 0;
    if (status < 400) {
      return { kind: 'status', error: { status: 400, message: `Unknown x-mock-fault value: ${name}` } };
    }
    const retryAfter = header(headers, 'x-mock-retry-after');
    const retryAfterMs = header(headers, 'x-mock-retry-after-ms');
    const extra: Record<string, string> = {};
    if (retryAfter !== undefined) extra['retry-after'] = retryAfter;
    if (retryAfterMs !== undefined) extra['retry-after-ms'] = retryAfterMs;
    if (status === 429 && retryAfter === undefined && retryAfterMs === undefined) {
      extra['retry-after'] = String(this.#rates.retryAfterSeconds);
    }
    return { kind: 'status', error: { status, message: defaultMessage(status), headers: extra } };
  }

  #draw(): Fault | undefined {
    const r = this.#rand();
    const { rate429, rate500, rateDrop, rateSlow } = this.#rates;
    if (r < rate429) {
      const headers = { 'retry-after': String(this.#rates.retryAfterSeconds) };
      return { kind: 'status', error: { status: 429, message: defaultMessage(429), headers } };
    }
    if (r < rate429 + rate500)
      return { kind: 'status', error: { status: 500, message: defaultMessage(500) } };
    if (r < rate429 + rate500 + rateDrop) return { kind: 'drop' };
    if (r < rate429 + rate500 + rateDrop + rateSlow) return { kind: 'slow', ms: this.#rates.slowMs };
    return undefined;
  }
}
