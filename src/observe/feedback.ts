/**
 * `POST /v1/feedback`: a score on one answer, named by the `x-request-id` it came with. Scores
 * are kept in their own ledger (shared by every instance, like the usage ledger) so the
 * dashboard can show them; `onFeedback` hands each one on (e.g. to Langfuse as a score on
 * that request's trace).
 */
import { z } from 'zod';
import { parseAdminBody } from '../server/admin-body.js';
import { malformedError } from '../dialect/validate.js';
import { findMalformed } from '../dialect/well-formed.js';
import type { LedgerRollupGroup, LedgerStore } from '../store/types.js';

export interface FeedbackRecord {
  /** Epoch ms when the score was received. */
  ts: number;
  /** The `x-request-id` of the answer being scored. */
  requestId: string;
  score: number;
  /** What is scored (`quality`, `thumbs`…); `feedback` when not given. */
  name: string;
  comment?: string;
  /** Who sent the score, when the request named a caller. */
  user?: string;
}

/** Called once per recorded score, after it is stored. */
export type FeedbackHook = (feedback: FeedbackRecord) => void;

export const DEFAULT_FEEDBACK_NAME = 'feedback';

const feedbackSchema = z.strictObject({
  request_id: z.string().min(1).max(200),
  score: z.number().finite(),
  name: z.string().min(1).max(200).optional(),
  comment: z.string().max(4000).optional(),
});

export class FeedbackBook {
  readonly store: LedgerStore<FeedbackRecord>;
  readonly #onFeedback: FeedbackHook | undefined;
  readonly #now: () => number;
  readonly #onHookError: (err: unknown) => void;

  constructor(
    store: LedgerStore<FeedbackRecord>,
    opts: { onFeedback?: FeedbackHook; now?: () => number; onHookError?: (err: unknown) => void } = {},
  ) {
    this.store = store;
    this.#onFeedback = opts.onFeedback;
    this.#now = opts.now ?? Date.now;
    this.#onHookError = opts.onHookError ?? (() => {});
  }

  /** Check a request body, store the score, then hand it to the hook. A bad body changes nothing. */
  async record(body: unknown, user?: string): Promise<FeedbackRecord> {
    const parsed = parseAdminBody(feedbackSchema, body, 'feedback');
    const malformed = findMalformed(parsed);
    if (malformed) throw malformedError(malformed);
    const record: FeedbackRecord = {
      ts: this.#now(),
      requestId: parsed.request_id,
      score: parsed.score,
      name: parsed.name ?? DEFAULT_FEEDBACK_NAME,
      ...(parsed.comment !== undefined ? { comment: parsed.comment } : {}),
      ...(user ? { user } : {}),
    };
    await this.store.append(record);
    try {
      this.#onFeedback?.(record);
    } catch (err) {
      // The score is stored; a failing forwarder must not turn that into an error for the client.
      this.#onHookError(err);
    }
    return record;
  }

  /** Scores in a time range: count and mean per name, and the latest few with their comments. */
  async summary(since: number, until: number, latest = 10): Promise<FeedbackSummary> {
    const [groups] = await this.store.rollup([
      { since, until, bucketMs: until - since, by: ['name'], sums: [{ field: 'score', scale: SCORE_SCALE }] },
    ]);
    const rows = await this.store.query({ since, until });
    return {
      count: groups.reduce((n, g) => n + g.count, 0),
      by_name: Object.fromEntries(groups.map((g) => [g.keys[0] ?? DEFAULT_FEEDBACK_NAME, meanOf(g)])),
      latest: rows
        .slice(-latest)
        .reverse()
        .map((r) => ({
          at: new Date(r.ts).toISOString(),
          request_id: r.requestId,
          name: r.name,
          score: r.score,
          ...(r.comment !== undefined ? { comment: r.comment } : {}),
          ...(r.user ? { user: r.user } : {}),
        })),
    };
  }
}

/** Scores are summed in millionths so means of fractional scores add up exactly. */
const SCORE_SCALE = 1e6;

function meanOf(g: LedgerRollupGroup): { count: number; mean: number } {
  return { count: g.count, mean: g.count === 0 ? 0 : g.sums[0] / SCORE_SCALE / g.count };
}

export interface FeedbackSummary {
  count: number;
  by_name: Record<string, { count: number; mean: number }>;
  latest: Array<{
    at: string;
    request_id: string;
    name: string;
    score: number;
    comment?: string;
    user?: string;
  }>;
}
