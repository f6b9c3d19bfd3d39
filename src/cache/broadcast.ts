/**
 * One stream, many readers. A pump reads the source at its own pace (the upstream's) into a
 * buffer; each subscriber reads the buffer from the start, then waits for live chunks, so a
 * late joiner gets the whole stream. The buffer lives as long as the broadcast: one
 * completion's worth of SSE.
 *
 * Readers are counted from `subscribe()`; when every reader has left before the end, the
 * broadcast calls `onAbandoned` (to abort the upstream call) and stops pumping. A reader that
 * subscribes but never iterates keeps it alive: failing open costs one upstream call, failing
 * closed would cut other readers' streams.
 */
export class Broadcast {
  readonly #chunks: Uint8Array[] = [];
  readonly #onEnd: () => void;
  readonly #onAbandoned: () => void;
  #wakers: (() => void)[] = [];
  #readers = 0;
  #done = false;
  #failed = false;
  #error: unknown;
  #cancelled = false;

  constructor(source: AsyncIterable<Uint8Array>, hooks: { onEnd(): void; onAbandoned(): void }) {
    this.#onEnd = hooks.onEnd;
    this.#onAbandoned = hooks.onAbandoned;
    void this.#pump(source);
  }

  get done(): boolean {
    return this.#done;
  }

  subscribe(): AsyncIterable<Uint8Array> {
    this.#readers++;
    return this.#read();
  }

  async *#read(): AsyncGenerator<Uint8Array> {
    let next = 0;
    let reachedEnd = false;
    try {
      for (;;) {
        if (next < this.#chunks.length) {
          yield this.#chunks[next++];
          continue;
        }
        if (this.#done) {
          reachedEnd = true;
          if (this.#failed) throw this.#error;
          return;
        }
        await new Promise<void>((wake) => this.#wakers.push(wake));
      }
    } finally {
      this.#readers--;
      if (!reachedEnd && !this.#done && this.#readers === 0) this.#cancel();
    }
  }

  async #pump(source: AsyncIterable<Uint8Array>): Promise<void> {
    const iterator = source[Symbol.asyncIterator]();
    try {
      for (;;) {
        const step = await iterator.next();
        if (step.done) break;
        this.#chunks.push(step.value);
        this.#wake();
        if (this.#cancelled) {
          await iterator.return?.();
          break;
        }
      }
    } catch (error) {
      this.#failed = true;
      this.#error = error;
    } finally {
      this.#done = true;
      this.#wake();
      this.#onEnd();
    }
  }

  #cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#onAbandoned();
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }
}
