/**
 * The ledger: one row per call, cache hits and refusals included. Rows are the books; every
 * report is computed from them, so a report always equals the sum of its rows.
 */
import type { CacheOutcome, RouteName } from '../pipeline/types.js';
import type { LedgerStore } from '../store/types.js';

export interface LedgerRow {
  /** Epoch ms when the request arrived. */
  ts: number;
  requestId: string;
  user: string;
  team?: string;
  /** Virtual key id (never the key). */
  keyId?: string;
  tier?: string;
  route: RouteName;
  /** Model the caller asked for (an alias such as `auto` included). */
  requestedModel: string;
  /** Model that answered (after routing and fallbacks). */
  model: string;
  upstream?: string;
  inputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  /** Usage was counted locally because the provider reported none. */
  usageEstimated: boolean;
  /** USD spent; null when the model has no known price (unpriced, never $0). */
  costUsd: number | null;
  /** Gateway cache hits (L1/L2) and shared flights: what the call would have cost. */
  costAvoidedUsd: number;
  /** Provider prompt cache (L3): saved against full input price (negative on cache writes). */
  promptCacheSavedUsd: number;
  /** Which gateway cache answered (L1 exact, L2 semantic) or `miss`/`bypass`. */
  cache: CacheOutcome;
  latencyMs: number;
  /** HTTP status sent (499 when the client went away mid-stream). */
  status: number;
  outcome: 'ok' | 'error' | 'aborted';
  errorCode?: string;
  stream: boolean;
  /** Answered by sharing an identical call already in flight (single-flight follower): nothing billed. */
  coalesced?: boolean;
  /** Set on calls the gateway made for itself on the caller's behalf (`summary`, `embedding`). */
  purpose?: string;
  /**
   * USD of the side calls made for this request (its history summary, semantic-cache
   * embeddings; see cost/side-cost.ts), which have their own rows (with `purpose`): NOT in
   * `costUsd`, so summing `costUsd` over rows counts every call once. What the client was
   * told the request cost (`x-sluice-cost-usd`) is `costUsd + sideCostUsd`.
   */
  sideCostUsd?: number;
  /** A side call had no known price (`sideCostUsd` is then a lower bound). */
  sideCostUnpriced?: boolean;
  /** OpenTelemetry trace id of the request, when tracing is on (feedback scores attach to it). */
  traceId?: string;
}

export interface LedgerLogger {
  warn(obj: object, msg?: string): void;
}

/** Records rows without making the request wait; `idle()` resolves when every write landed. */
export class Ledger {
  readonly store: LedgerStore<LedgerRow>;
  readonly #logger: LedgerLogger | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(store: LedgerStore<LedgerRow>, logger?: LedgerLogger) {
    this.store = store;
    this.#logger = logger;
  }

  record(row: LedgerRow): void {
    const write = this.store.append(row).then(
      () => {
        this.#pending.delete(write);
      },
      (error: unknown) => {
        this.#pending.delete(write);
        this.#logger?.warn({ err: error, requestId: row.requestId }, 'ledger write failed');
      },
    );
    this.#pending.add(write);
  }

  /** Resolves once every row recorded so far is stored (tests, shutdown, reports after a call). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /**
   * Resolves once the rows recorded before this call are stored; unlike `idle()` it does not
   * wait for rows recorded meanwhile, so a reader under steady traffic is never starved.
   */
  async recorded(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  query(filter: Parameters<LedgerStore<LedgerRow>['query']>[0]): Promise<LedgerRow[]> {
    return this.store.query(filter);
  }
}
