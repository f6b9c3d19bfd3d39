import cliProgress from 'cli-progress';

/**
 * The batch progress bar on stderr: done/total, rate and ETA, errors so far. On a terminal it
 * redraws in place; redirected to a file it writes a line every few seconds instead.
 */
export class BatchProgressBar {
  readonly #bar: cliProgress.SingleBar;
  readonly #startedAt = Date.now();
  readonly #startValue: number;

  constructor(stream: NodeJS.WritableStream & { isTTY?: boolean }, total: number, alreadyDone: number) {
    this.#bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          'batch |{bar}| {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted} | errors {errors}',
        barCompleteChar: '#',
        barIncompleteChar: '.',
        hideCursor: false,
        etaBuffer: 50,
        fps: 5,
        noTTYOutput: stream.isTTY !== true,
        notTTYSchedule: 5000,
      },
      cliProgress.Presets.legacy,
    );
    this.#startValue = alreadyDone;
    this.#bar.start(total, alreadyDone, { rate: '0.0', errors: 0 });
  }

  update(done: number, errors: number): void {
    const seconds = (Date.now() - this.#startedAt) / 1000;
    const rate = seconds > 0 ? (done - this.#startValue) / seconds : 0;
    this.#bar.update(done, { rate: rate.toFixed(1), errors });
  }

  stop(): void {
    this.#bar.stop();
  }
}
