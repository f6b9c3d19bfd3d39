/**
 * Bounded label values. A label's values come from configuration or from a fixed list; a value a
 * caller controls (the model name) gets its own series only up to a cap, then counts as `other`.
 * Per-user, per-key or per-path labels are never made: each one is a new series per caller,
 * which is how gateways end up with tens of thousands of series and their memory.
 */

export const OTHER = 'other';
const MAX_LABEL_LENGTH = 100;

export class ModelLabels {
  readonly #known: Set<string>;
  readonly #seen = new Set<string>();
  readonly #cap: number;

  constructor(configured: Iterable<string>, cap: number) {
    this.#known = new Set(configured);
    this.#cap = cap;
  }

  of(model: string): string {
    if (this.#known.has(model) || this.#seen.has(model)) return model;
    if (model === '' || model.length > MAX_LABEL_LENGTH || this.#seen.size >= this.#cap) return OTHER;
    this.#seen.add(model);
    return model;
  }
}

/** `2xx`, `4xx`, `5xx`: the status as a class (499, a client that left, is `4xx`). */
export function statusClass(status: number): string {
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 400 && status < 500) return '4xx';
  if (status >= 500 && status < 600) return '5xx';
  return OTHER;
}

/** The refusals the gateway makes itself (limits, queue, budget, shutdown, deadline). */
const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'rate_limited',
  'queue_full',
  'queue_timeout',
  'deadline_unreachable',
  'budget_exceeded',
  'shutting_down',
]);

export function refusalReason(errorCode: string | undefined): string | undefined {
  return errorCode !== undefined && REFUSAL_CODES.has(errorCode) ? errorCode : undefined;
}

/** The outcome of one upstream attempt as a small fixed set. */
export function attemptOutcome(result: number | string): string {
  if (typeof result === 'string') {
    if (result === 'upstream_timeout') return 'timeout';
    if (result === 'client_closed') return 'aborted';
    return 'unreachable';
  }
  if (result >= 200 && result < 300) return 'ok';
  if (result === 429) return '429';
  return statusClass(result);
}
