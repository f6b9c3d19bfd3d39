/**
 * Budgets that hold under concurrency. Before a call, its maximum cost is reserved on every
 * budget that applies (key, user, team × day, month) in ONE atomic `CounterStore.tryAdd`: all
 * counters move or none does, and a reservation that would take any of them past its limit is
 * refused. After the call the reservation is settled to the actual cost (or released). As
 * reservations are upper bounds, concurrent calls can never spend past a limit.
 * Money is counted in integer nano-dollars so sums are exact on every backend.
 */
import { SluiceError } from '../errors.js';
import type { Caller } from '../pipeline/types.js';
import { compositeKey, compositeKeyPrefix } from '../store/composite-key.js';
import type { CounterStore } from '../store/types.js';
import type { BudgetLimits, BudgetsConfig } from './config.js';
import { fromNano, toNano } from './cost.js';

export type BudgetScopeKind = 'key' | 'user' | 'team';
/** What the spend in a budget warning counts (see `Budgets.warningFor`). */
export type WarningBasis = 'actual' | 'max_cost' | 'before';
export type BudgetWindow = 'day' | 'month';

export interface BudgetScope {
  scope: BudgetScopeKind;
  id: string;
  window: BudgetWindow;
  limitNano: number;
  counterKey: string;
  /** Epoch ms when the window ends and the budget is fresh again. */
  resetAt: number;
  ttlSeconds: number;
}

export interface BudgetEvent {
  event: 'budget_warning' | 'budget_exceeded';
  scope: BudgetScopeKind;
  scope_id: string;
  window: BudgetWindow;
  spent_usd: number;
  limit_usd: number;
  reset_at: string;
  at: string;
}

export interface BudgetLogger {
  warn(obj: object, msg?: string): void;
}

export interface BudgetsOptions {
  now?: () => number;
  logger?: BudgetLogger;
  /** Deliver a budget event (default: POST to `webhookUrl` when configured). */
  notify?: (event: BudgetEvent) => Promise<void>;
}

/** Limits a virtual key carries (from its record). */
export type KeyLimits = Pick<BudgetLimits, 'dailyUsd' | 'monthlyUsd'> & { id: string };

const DAY_MS = 86_400_000;
/** Counters outlive their window by a day so late settlements and status reads still find them. */
const AFTER_RESET_S = 86_400;

function windowBounds(window: BudgetWindow, now: number): { period: string; resetAt: number } {
  const d = new Date(now);
  if (window === 'day') {
    const start = Math.floor(now / DAY_MS) * DAY_MS;
    return { period: `d${d.toISOString().slice(0, 10)}`, resetAt: start + DAY_MS };
  }
  return {
    period: `m${d.toISOString().slice(0, 7)}`,
    resetAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
  };
}

const WINDOW_WORD: Record<BudgetWindow, string> = { day: 'Daily', month: 'Monthly' };

const fmtUsd = (nano: number): string => {
  const usd = fromNano(nano);
  return `$${usd.toFixed(usd !== 0 && usd < 0.01 ? 6 : 4)}`;
};

/**
 * The counter of one budget scope and period (`d2025-01-31`, `m2025-01`). Ids are escaped, so
 * distinct (scope, id, period) never share a counter; plain ids keep the pre-escaping key.
 */
export function budgetCounterKey(scope: BudgetScopeKind, id: string, period: string): string {
  return compositeKey('budget', scope, id, period);
}

export class Budgets {
  readonly #counters: CounterStore;
  readonly #config: BudgetsConfig;
  readonly #now: () => number;
  readonly #logger: BudgetLogger | undefined;
  readonly #notify: ((event: BudgetEvent) => Promise<void>) | undefined;
  readonly #pending = new Set<Promise<void>>();

  constructor(counters: CounterStore, config: BudgetsConfig, options: BudgetsOptions = {}) {
    this.#counters = counters;
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    this.#notify = options.notify ?? (config.webhookUrl ? webhookNotifier(config.webhookUrl) : undefined);
  }

  get config(): BudgetsConfig {
    return this.#config;
  }

  /** Every budget that applies to this caller, now. Empty when none does. */
  scopesFor(caller: Caller, key?: KeyLimits): BudgetScope[] {
    const now = this.#now();
    const out: BudgetScope[] = [];
    const push = (scope: BudgetScopeKind, id: string, limits: BudgetLimits | undefined) => {
      if (!limits) return;
      for (const window of ['day', 'month'] as const) {
        const usd = window === 'day' ? limits.dailyUsd : limits.monthlyUsd;
        if (usd === undefined) continue;
        const { period, resetAt } = windowBounds(window, now);
        out.push({
          scope,
          id,
          window,
          limitNano: toNano(usd),
          counterKey: budgetCounterKey(scope, id, period),
          resetAt,
          ttlSeconds: Math.ceil((resetAt - now) / 1000) + AFTER_RESET_S,
        });
      }
    };
    if (key) push('key', key.id, key);
    const tierLimits = caller.tier ? this.#config.tiers[caller.tier] : undefined;
    push('user', caller.user, this.#config.users[caller.user] ?? tierLimits);
    if (caller.team) push('team', caller.team, this.#config.teams[caller.team]);
    return out;
  }

  /**
   * Reserve `amountNano` on every scope at once, or throw `budget_exceeded` naming the first
   * scope that has no room (its limit, what is spent or held by calls in flight, and when it resets).
   */
  async reserve(scopes: readonly BudgetScope[], amountNano: number): Promise<Reservation> {
    const amount = Math.max(0, Math.ceil(amountNano));
    const result = await this.#counters.tryAdd(
      scopes.map((s) => ({ key: s.counterKey, amount, limit: s.limitNano, ttlSeconds: s.ttlSeconds })),
    );
    if (!result.ok) {
      const s = scopes[result.index];
      this.#event('budget_exceeded', s, result.current);
      throw this.#exceeded(s, result.current, amount);
    }
    const reservation = new Reservation(this, scopes, amount, result.values);
    for (let i = 0; i < scopes.length; i++) this.#checkWarning(scopes[i], result.values[i] - amount);
    return reservation;
  }

  /** Current spend (settled + held by calls in flight) of each scope. */
  async status(scopes: readonly BudgetScope[]): Promise<
    Array<{
      scope: BudgetScopeKind;
      scope_id: string;
      window: BudgetWindow;
      spent_usd: number;
      limit_usd: number;
      reset_at: string;
    }>
  > {
    const values = await this.#counters.get(scopes.map((s) => s.counterKey));
    return scopes.map((s, i) => ({
      scope: s.scope,
      scope_id: s.id,
      window: s.window,
      spent_usd: fromNano(values[i]),
      limit_usd: fromNano(s.limitNano),
      reset_at: new Date(s.resetAt).toISOString(),
    }));
  }

  /**
   * @internal Move each scope's counter by `deltaNano` (settle / release). A settlement is
   * where a call's real cost lands, so the warning event is checked on the result whatever
   * the sign (a settlement usually lowers the counter from the reserved upper bound, and it
   * is still the moment the budget crosses `warnAt`); a release (`charged` false) is not.
   */
  adjust(scopes: readonly BudgetScope[], deltaNano: number, charged = deltaNano > 0): Promise<void> {
    if (deltaNano === 0 && !charged) return Promise.resolve();
    const work = Promise.all(
      scopes.map((s) => this.#counters.add(s.counterKey, deltaNano, s.ttlSeconds)),
    ).then((values) => {
      if (charged) for (let i = 0; i < scopes.length; i++) this.#checkWarning(scopes[i], values[i]);
    });
    const tracked: Promise<void> = work.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
    return tracked;
  }

  /** Resolves once every settlement started so far has reached the store and every budget
   * notification it raised has been sent (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #exceeded(s: BudgetScope, currentNano: number, amountNano: number): SluiceError {
    const who = s.scope === 'key' ? `key ${s.id}` : `${s.scope} '${s.id}'`;
    const resetAt = new Date(s.resetAt).toISOString();
    const alone = amountNano > s.limitNano;
    const message = alone
      ? `${WINDOW_WORD[s.window]} budget of ${who} is ${fmtUsd(s.limitNano)}; this request alone may cost up to ` +
        `${fmtUsd(amountNano)} (prompt + max output tokens at list price). Lower max_tokens or the prompt; ` +
        'retrying the same request will not help.'
      : `${WINDOW_WORD[s.window]} budget of ${who} exceeded: ${fmtUsd(currentNano)} of ${fmtUsd(s.limitNano)} spent ` +
        `or held by calls in flight; this request may cost up to ${fmtUsd(amountNano)}. ` +
        `The budget resets at ${resetAt}; do not retry before then.`;
    // No Retry-After: SDKs would sleep until the reset (hours) and retry. Waiting cannot cure this.
    return new SluiceError('budget_exceeded', message, {
      retryable: false,
      headers: { 'x-sluice-budget-reset': resetAt },
      details: {
        scope: s.scope,
        scope_id: s.id,
        window: s.window,
        limit_usd: fromNano(s.limitNano),
        spent_usd: fromNano(currentNano),
        requested_usd: fromNano(amountNano),
        reset_at: resetAt,
      },
    });
  }

  /** Log + notify once per scope window when spending reaches `warnAt` of the limit. */
  #checkWarning(s: BudgetScope, spentNano: number): void {
    if (s.limitNano <= 0 || spentNano < s.limitNano * this.#config.warnAt) return;
    this.#event('budget_warning', s, spentNano);
  }

  #event(event: BudgetEvent['event'], s: BudgetScope, spentNano: number): void {
    // Once per scope window across instances: the first to count the event sends it. The
    // escaped event name then the counter key (last, whole) is unambiguous. Tracked like a
    // settlement, so `idle()` (shutdown, tests) also waits for the webhook to be delivered.
    const work: Promise<void> = this.#counters
      .add(compositeKeyPrefix(event) + s.counterKey, 1, s.ttlSeconds)
      .then(async (n) => {
        if (n !== 1) return;
        const e: BudgetEvent = {
          event,
          scope: s.scope,
          scope_id: s.id,
          window: s.window,
          spent_usd: fromNano(spentNano),
          limit_usd: fromNano(s.limitNano),
          reset_at: new Date(s.resetAt).toISOString(),
          at: new Date(this.#now()).toISOString(),
        };
        this.#logger?.warn(e, event === 'budget_warning' ? 'budget nearly spent' : 'budget exceeded');
        await this.#notify?.(e);
      })
      .catch((err: unknown) => this.#logger?.warn({ err, event }, 'budget notification failed'));
    const tracked: Promise<void> = work.finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /**
   * Header value when `spent` (per scope) is at or above `warnAt` of some budget; the fullest
   * budget is named. `basis` says what `spent` is: `actual` (spent before this call plus its
   * actual cost), `max_cost` (plus the most it may cost: streams, whose cost is known only
   * after the head) or `before` (before this call: a call that failed).
   */
  warningFor(
    scopes: readonly BudgetScope[],
    spent: readonly number[],
    basis: WarningBasis,
  ): string | undefined {
    let worst = -1;
    let ratio = 0;
    for (let i = 0; i < scopes.length; i++) {
      const r = scopes[i].limitNano > 0 ? spent[i] / scopes[i].limitNano : 1;
      if (r >= this.#config.warnAt && r > ratio) {
        worst = i;
        ratio = r;
      }
    }
    if (worst === -1) return undefined;
    const s = scopes[worst];
    return (
      `scope=${s.scope}; id=${s.id}; window=${s.window}; used=${Math.floor(ratio * 100)}%; ` +
      `spent_usd=${fromNano(spent[worst])}; limit_usd=${fromNano(s.limitNano)}; reset_at=${new Date(s.resetAt).toISOString()}; ` +
      `basis=${basis}`
    );
  }
}

/** A held reservation; settle or release it exactly once. */
export class Reservation {
  readonly scopes: readonly BudgetScope[];
  readonly amountNano: number;
  /** Each counter's value before this reservation. */
  readonly spentBefore: readonly number[];
  readonly #budgets: Budgets;
  #done = false;

  constructor(
    budgets: Budgets,
    scopes: readonly BudgetScope[],
    amountNano: number,
    valuesAfter: readonly number[],
  ) {
    this.#budgets = budgets;
    this.scopes = scopes;
    this.amountNano = amountNano;
    this.spentBefore = valuesAfter.map((v) => v - amountNano);
  }

  get settled(): boolean {
    return this.#done;
  }

  /**
   * The `x-sluice-budget-warning` value once this call has cost `costNano` (`basis` says what
   * that is, see `Budgets.warningFor`): the call that takes a budget past `warnAt` carries it.
   */
  warning(costNano = 0, basis: WarningBasis = 'before'): string | undefined {
    const cost = Math.max(0, Math.round(costNano));
    return this.#budgets.warningFor(
      this.scopes,
      this.spentBefore.map((spent) => spent + cost),
      basis,
    );
  }

  /** Replace the held amount by the actual cost. */
  async settle(actualNano: number): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    const actual = Math.max(0, Math.round(actualNano));
    await this.#budgets.adjust(this.scopes, actual - this.amountNano, actual > 0);
  }

  release(): Promise<void> {
    return this.settle(0);
  }
}

function webhookNotifier(url: string): (event: BudgetEvent) => Promise<void> {
  return async (event) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  };
}
