/**
 * Feedback scores to Langfuse: `POST /v1/feedback` names an answer by its `x-request-id`, and
 * Langfuse names a trace by its OpenTelemetry trace id. Recent requests' trace ids are kept
 * here (bounded); an older or another instance's request is looked up in the shared ledger
 * over the last day. A score whose trace cannot be found is kept in the ledger only.
 */
import type { LedgerRow } from '../cost/ledger.js';
import type { CallObserver } from '../cost/record-stage.js';
import type { LedgerStore } from '../store/types.js';
import type { FeedbackHook, FeedbackRecord } from './feedback.js';
import { type LangfuseConfig, sendLangfuseScore } from './langfuse.js';

const REMEMBERED = 10_000;
const LOOKBACK_MS = 24 * 60 * 60 * 1000;

interface Deps {
  config: LangfuseConfig;
  /** The usage ledger (read late: the gateway builds it after this). */
  usage: () => LedgerStore<LedgerRow>;
  log: { warn(obj: object, msg?: string): void };
  send?: typeof sendLangfuseScore;
}

export class LangfuseScores {
  readonly #traceOf = new Map<string, string>();
  readonly #deps: Deps;
  readonly #pending = new Set<Promise<void>>();

  constructor(deps: Deps) {
    this.#deps = deps;
  }

  /** Remembers each answered request's trace id (oldest forgotten first). */
  readonly observer: CallObserver = (_ctx, row) => {
    if (!row.traceId) return;
    this.#traceOf.set(row.requestId, row.traceId);
    if (this.#traceOf.size > REMEMBERED) this.#traceOf.delete(this.#traceOf.keys().next().value as string);
  };

  readonly onFeedback: FeedbackHook = (feedback) => {
    const sending: Promise<void> = this.#send(feedback).finally(() => this.#pending.delete(sending));
    this.#pending.add(sending);
  };

  /** Resolves once every score handed over so far has been sent or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #send(feedback: FeedbackRecord): Promise<void> {
    const { config, log } = this.#deps;
    try {
      const traceId = this.#traceOf.get(feedback.requestId) ?? (await this.#fromLedger(feedback));
      if (!traceId) {
        log.warn(
          { requestId: feedback.requestId },
          'feedback names no traced request; kept in the ledger only',
        );
        return;
      }
      const send = this.#deps.send ?? sendLangfuseScore;
      await send(config, {
        traceId,
        name: feedback.name,
        value: feedback.score,
        comment: feedback.comment,
        id: `${feedback.requestId}-${feedback.name}`,
      });
    } catch (err) {
      log.warn(
        { err, requestId: feedback.requestId },
        'could not send the score to Langfuse; it is kept in the ledger',
      );
    }
  }

  async #fromLedger(feedback: FeedbackRecord): Promise<string | undefined> {
    const rows = await this.#deps.usage().query({
      since: feedback.ts - LOOKBACK_MS,
      where: { requestId: feedback.requestId },
    });
    return rows.find((r) => r.traceId)?.traceId;
  }
}
