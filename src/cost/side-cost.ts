/**
 * Side calls: calls the gateway makes for a request rather than for the client directly (the
 * history summary of compression, provider embeddings of the semantic cache). Each keeps its
 * own ledger row (`purpose` says why it was made); its cost is also added to the request it
 * was made for, so that request's `x-sluice-cost-usd` tells the whole cost and its ledger row
 * breaks it out as `sideCostUsd`. Reports sum `costUsd` only: the side call's own row already
 * counts it once.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestContext } from '../pipeline/types.js';

export interface SideCost {
  usd: number;
  /** A side call had no known price: the total is a lower bound. */
  unpriced: boolean;
}

/** Called when a side call's row is written: adds its cost (null: unpriced) to its parent. */
export function addSideCost(parent: RequestContext, costUsd: number | null): void {
  parent.sideCost ??= { usd: 0, unpriced: false };
  const side = parent.sideCost;
  if (costUsd === null) side.unpriced = true;
  else side.usd = Math.round((side.usd + costUsd) * 1e9) / 1e9;
}

/**
 * The request whose work is running: calls made through a shared service that does not see
 * the request (the semantic cache's embedder, wired to the gateway's own embeddings call) find
 * their parent here. Set by the stage that calls the service, for the duration of the call.
 */
const running = new AsyncLocalStorage<RequestContext>();

export const withSideCallParent = <T>(parent: RequestContext, work: () => Promise<T>): Promise<T> =>
  running.run(parent, work);

export const sideCallParent = (): RequestContext | undefined => running.getStore();
