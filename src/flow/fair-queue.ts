/**
 * The waiting room of one upstream: priority levels, and inside each level one FIFO lane per
 * caller served round-robin. A caller with 1,000 queued requests and a caller with one both
 * get every other slot, so the single request waits about one service slot, not 1,000.
 *
 * Nodes are intrusive (the waiter object itself carries the links) so enqueue, dequeue and
 * removal from the middle (deadline, client gone) are O(1) with no allocation but the lane
 * of a caller who was not waiting yet. Level 0 is served first.
 */
export class FairQueueNode {
  queuePrev: FairQueueNode | undefined = undefined;
  queueNext: FairQueueNode | undefined = undefined;
  /** The lane holding this node; undefined while not queued. */
  lane: Lane | undefined = undefined;
}

class Lane {
  head: FairQueueNode | undefined = undefined;
  tail: FairQueueNode | undefined = undefined;
  size = 0;
  ringPrev: Lane | undefined = undefined;
  ringNext: Lane | undefined = undefined;
  constructor(
    readonly callerKey: string,
    readonly level: Level,
  ) {}
}

class Level {
  readonly lanes = new Map<string, Lane>();
  /** Round-robin order of lanes that have waiters; the head is served next. */
  ringHead: Lane | undefined = undefined;
  ringTail: Lane | undefined = undefined;
  size = 0;
}

export class FairQueue<N extends FairQueueNode> {
  readonly #levels: Level[];
  #size = 0;

  constructor(levelCount: number) {
    if (!Number.isInteger(levelCount) || levelCount < 1) throw new TypeError('levelCount must be >= 1');
    this.#levels = Array.from({ length: levelCount }, () => new Level());
  }

  get size(): number {
    return this.#size;
  }

  sizeAt(level: number): number {
    return this.#levels[level].size;
  }

  /** Append `node` to the end of `callerKey`'s lane at `level`. */
  push(node: N, level: number, callerKey: string): void {
    const lvl = this.#levels[level];
    let lane = lvl.lanes.get(callerKey);
    if (lane === undefined) {
      lane = new Lane(callerKey, lvl);
      lvl.lanes.set(callerKey, lane);
      appendToRing(lvl, lane);
    }
    node.lane = lane;
    node.queueNext = undefined;
    node.queuePrev = lane.tail;
    if (lane.tail) lane.tail.queueNext = node;
    else lane.head = node;
    lane.tail = node;
    lane.size++;
    lvl.size++;
    this.#size++;
  }

  /** Take the next node: highest level first, then the lane whose turn it is. */
  shift(): N | undefined {
    if (this.#size === 0) return undefined;
    for (const lvl of this.#levels) {
      const lane = lvl.ringHead;
      if (lane === undefined) continue;
      const node = lane.head as N;
      this.#unlink(node);
      // The lane had its turn: it goes to the back of the ring if it still has waiters.
      if (lane.size > 0 && lvl.ringTail !== lane) {
        removeFromRing(lvl, lane);
        appendToRing(lvl, lane);
      }
      return node;
    }
    return undefined;
  }

  /** Remove a node from wherever it waits. Returns false when it was not queued. */
  remove(node: N): boolean {
    if (node.lane === undefined) return false;
    this.#unlink(node);
    return true;
  }

  /**
   * When the queue is full: which waiter to shed so a newcomer at `level` from `callerKey`
   * can take its place, or undefined when the newcomer is the one to refuse. A waiter of a
   * lower priority is shed first; within the newcomer's own level only a caller holding more
   * places than the newcomer's caller would is shed (its newest request), so a noisy caller
   * that filled the queue cannot lock a quiet one out.
   */
  victimFor(level: number, callerKey: string): N | undefined {
    for (let l = this.#levels.length - 1; l >= level; l--) {
      const lvl = this.#levels[l];
      if (lvl.size === 0) continue;
      const largest = largestLane(lvl);
      if (l > level) return largest.tail as N;
      const own = lvl.lanes.get(callerKey)?.size ?? 0;
      return largest.size > own + 1 ? (largest.tail as N) : undefined;
    }
    return undefined;
  }

  /**
   * How many waiters would be served before a newcomer at `level` from `callerKey` if nobody
   * else came: every waiter at a higher level, its own caller's waiters, and at most as many
   * turns per other lane at its level as it has places in its lane (round-robin). An upper
   * bound for its own level; O(levels).
   */
  servedBefore(level: number, callerKey: string): number {
    let ahead = 0;
    for (let l = 0; l < level; l++) ahead += this.#levels[l].size;
    const lvl = this.#levels[level];
    const own = lvl.lanes.get(callerKey)?.size ?? 0;
    const otherLanes = lvl.lanes.size - (own > 0 ? 1 : 0);
    return ahead + own + Math.min(lvl.size - own, (own + 1) * otherLanes);
  }

  #unlink(node: N): void {
    const lane = node.lane!;
    if (node.queuePrev) node.queuePrev.queueNext = node.queueNext;
    else lane.head = node.queueNext;
    if (node.queueNext) node.queueNext.queuePrev = node.queuePrev;
    else lane.tail = node.queuePrev;
    node.queuePrev = undefined;
    node.queueNext = undefined;
    node.lane = undefined;
    lane.size--;
    lane.level.size--;
    this.#size--;
    if (lane.size === 0) {
      removeFromRing(lane.level, lane);
      lane.level.lanes.delete(lane.callerKey);
    }
  }
}

function appendToRing(lvl: Level, lane: Lane): void {
  lane.ringNext = undefined;
  lane.ringPrev = lvl.ringTail;
  if (lvl.ringTail) lvl.ringTail.ringNext = lane;
  else lvl.ringHead = lane;
  lvl.ringTail = lane;
}

function removeFromRing(lvl: Level, lane: Lane): void {
  if (lane.ringPrev) lane.ringPrev.ringNext = lane.ringNext;
  else lvl.ringHead = lane.ringNext;
  if (lane.ringNext) lane.ringNext.ringPrev = lane.ringPrev;
  else lvl.ringTail = lane.ringPrev;
  lane.ringPrev = undefined;
  lane.ringNext = undefined;
}

function largestLane(lvl: Level): Lane {
  let best = lvl.ringHead!;
  for (let lane = best.ringNext; lane !== undefined; lane = lane.ringNext)
    if (lane.size > best.size) best = lane;
  return best;
}
