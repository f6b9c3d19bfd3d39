import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { type FileHandle, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One ledger row waiting for its store: the sorted-set score and the exact member to add. */
export interface SpooledRow {
  score: number;
  member: string;
}

/**
 * Ledger rows that could not reach Redis, kept on local disk until it is back. Append-only
 * JSONL, one file per ledger and gateway instance; appends made in the same event-loop turn
 * share one write and one fsync, and `append` resolves only once its row is on disk.
 *
 * Replay is at-least-once and relies on the writer being idempotent: every row carries the
 * exact member it would have been stored as (its id is in it), and adding a member a sorted
 * set already holds changes nothing. So a replay cut short, run twice, or racing a write
 * that only timed out on our side never doubles a row.
 *
 * File names: `<ledger>.<pid>.<instance>.jsonl` (being written) and `….<n>.replay` (taken for
 * replay). Files of a process that no longer runs are adopted by the next instance that drains.
 */
export class LedgerSpool {
  readonly #dir: string;
  readonly #ledger: string;
  readonly #instance = randomBytes(4).toString('hex');
  readonly #active: string;
  #file: FileHandle | undefined;
  #queue: Array<{ line: string; done: (error?: unknown) => void }> = [];
  #flushScheduled = false;
  /** Serialises flushes and drains: a drain must not rotate the file under a write. */
  #lock: Promise<unknown> = Promise.resolve();
  #rotations = 0;
  #replaying: Promise<number> | undefined;
  /** Rows appended since start (stats, tests). */
  spooled = 0;
  /** Rows replayed into the store since start (stats, tests). */
  replayed = 0;

  constructor(dir: string, ledger: string) {
    this.#dir = dir;
    this.#ledger = ledger.replace(/[^\w-]/g, '_');
    this.#active = join(dir, `${this.#ledger}.${process.pid}.${this.#instance}.jsonl`);
    mkdirSync(dir, { recursive: true });
  }

  append(row: SpooledRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({
        line: `${JSON.stringify(row)}\n`,
        done: (error) => (error === undefined ? resolve() : reject(error)),
      });
      this.spooled++;
      if (this.#flushScheduled) return;
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        void this.#exclusive(() => this.#flush());
      });
    });
  }

  /**
   * Hand every spooled row to `write` (in batches), deleting a file once all its rows are
   * written. Stops at the first failure, keeping what was not written. Returns rows written.
   */
  drain(write: (rows: SpooledRow[]) => Promise<void>, batch = 500): Promise<number> {
    return this.#exclusive(async () => {
      await this.#flush();
      await this.#rotate();
      let written = 0;
      for (const file of await this.#claimFiles()) {
        const rows = parseRows(await readFile(file, 'utf8'));
        for (let i = 0; i < rows.length; i += batch) await write(rows.slice(i, i + batch));
        await unlink(file);
        written += rows.length;
      }
      this.replayed += written;
      return written;
    });
  }

  /**
   * Write the backlog with `write` (a `drain` when there is one); resolves with how many rows
   * went. One replay at a time: a call during one joins it.
   */
  replay(write: (rows: SpooledRow[]) => Promise<void>): Promise<number> {
    this.#replaying ??= (async () => {
      try {
        if (!(await this.hasBacklog())) return 0;
        return await this.drain(write);
      } finally {
        this.#replaying = undefined;
      }
    })();
    return this.#replaying;
  }

  /** Whether any row of this ledger is on disk waiting (own or adoptable). */
  async hasBacklog(): Promise<boolean> {
    if (this.#queue.length > 0 || this.#file) return true;
    return (await this.#ownOrOrphaned()).length > 0;
  }

  async close(): Promise<void> {
    await this.#exclusive(async () => {
      await this.#flush();
      await this.#file?.close();
      this.#file = undefined;
    });
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(work, work);
    this.#lock = run.catch(() => {});
    return run;
  }

  async #flush(): Promise<void> {
    if (this.#queue.length === 0) return;
    const batch = this.#queue;
    this.#queue = [];
    try {
      this.#file ??= await open(this.#active, 'a');
      await this.#file.appendFile(batch.map((entry) => entry.line).join(''));
      await this.#file.datasync();
      for (const entry of batch) entry.done();
    } catch (error) {
      for (const entry of batch) entry.done(error);
    }
  }

  /** Close the file being written and take it for replay; new rows start a new file. */
  async #rotate(): Promise<void> {
    if (!this.#file) return;
    await this.#file.close();
    this.#file = undefined;
    await rename(this.#active, this.#active.replace(/\.jsonl$/, `.${++this.#rotations}.replay`));
  }

  /** Own replay files, plus files of dead processes renamed to ours (a rename claims a file once). */
  async #claimFiles(): Promise<string[]> {
    const claimed: string[] = [];
    for (const name of await this.#ownOrOrphaned()) {
      const path = join(this.#dir, name);
      if (name.startsWith(`${this.#ledger}.${process.pid}.${this.#instance}.`)) {
        claimed.push(path);
        continue;
      }
      const mine = this.#active.replace(/\.jsonl$/, `.${++this.#rotations}.replay`);
      try {
        await rename(path, mine);
        claimed.push(mine);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return claimed.sort();
  }

  async #ownOrOrphaned(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return [];
    }
    const own = `${this.#ledger}.${process.pid}.${this.#instance}.`;
    return names.filter((name) => {
      if (!name.startsWith(`${this.#ledger}.`)) return false;
      if (name.startsWith(own)) return name.endsWith('.replay');
      const pid = Number(name.slice(this.#ledger.length + 1).split('.')[0]);
      return Number.isInteger(pid) && pid !== process.pid && !isAlive(pid);
    });
  }
}

/** Rows of a spool file; a torn last line (crash mid-write) is skipped, it was never acknowledged. */
function parseRows(text: string): SpooledRow[] {
  const rows: SpooledRow[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const row = JSON.parse(line) as SpooledRow;
      if (typeof row.score === 'number' && typeof row.member === 'string') rows.push(row);
    } catch {
      // torn write
    }
  }
  return rows;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A ledger that may spool: what the stores sum over all their ledgers. */
export interface SpoolingLedger {
  readonly spoolStats: { spooled: number; replayed: number };
  replaySpool(): Promise<number>;
}

/** Rows spooled and replayed since start, over all `ledgers`. */
export function spoolTotals(ledgers: Iterable<SpoolingLedger>): {
  ledgerSpooled: number;
  ledgerReplayed: number;
} {
  let ledgerSpooled = 0;
  let ledgerReplayed = 0;
  for (const ledger of ledgers) {
    ledgerSpooled += ledger.spoolStats.spooled;
    ledgerReplayed += ledger.spoolStats.replayed;
  }
  return { ledgerSpooled, ledgerReplayed };
}

/** Replay every ledger's spooled rows now; resolves with how many went. */
export async function replayAllSpools(ledgers: Iterable<SpoolingLedger>): Promise<number> {
  let replayed = 0;
  for (const ledger of ledgers) replayed += await ledger.replaySpool();
  return replayed;
}
