import type { RequestContext } from './types.js';

/** What the client actually received, as the HTTP edge saw it. */
export interface Delivered {
  /** Status line the client got; 499 when nothing reached it. */
  status: number;
  /**
   * Set when the client did not get the reply the pipeline produced:
   * `reply_failed` — the edge could not write it and sent a bare 500 instead;
   * `client_closed` — the client was gone before anything was written.
   */
  failure?: 'reply_failed' | 'client_closed';
}

/**
 * The edge's report of what it sent, made once per request right after the response head is
 * written (or could not be). Stages that must not act on a reply the client never got (the
 * ledger row, the cache write) wait for it through `whenDelivered`.
 */
export class Delivery {
  #delivered: Delivered | undefined;
  #waiting: Array<(delivered: Delivered) => void> = [];

  get reported(): boolean {
    return this.#delivered !== undefined;
  }

  /** The first report wins; later ones are ignored. */
  report(delivered: Delivered): void {
    if (this.#delivered) return;
    this.#delivered = delivered;
    for (const then of this.#waiting.splice(0)) then(delivered);
  }

  onReported(callback: (delivered: Delivered) => void): void {
    if (this.#delivered) callback(this.#delivered);
    else this.#waiting.push(callback);
  }
}

/**
 * Run `callback` once the client's outcome is known. Outside the HTTP edge (library calls,
 * batch jobs, the summariser's own calls) there is no delivery to wait for: the reply the
 * pipeline returns is what the caller gets, so it runs at once with `undefined`.
 */
export function whenDelivered(
  ctx: RequestContext,
  callback: (delivered: Delivered | undefined) => void,
): void {
  if (ctx.delivery) ctx.delivery.onReported(callback);
  else callback(undefined);
}
