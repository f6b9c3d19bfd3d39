/**
 * CPU cost of one usage-ledger row on the embedded SQLite store, the way the gateway writes
 * them under load: every millisecond a burst of `k` rows is appended (as `k` requests ending in
 * one event-loop turn), for a steady rate of about k × 1,000 rows/s. Prints CPU µs per row
 * (user + system, the paced loop's own cost without appends subtracted), median of runs.
 * Run: node --import tsx bench/ledger-append.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LedgerRow } from '../src/cost/ledger.js';
import { SqliteStore } from '../src/store/sqlite.js';

const RUNS = 5;
const TURNS = 2_000;
const BURSTS = [4, 16];

function rowFor(i: number): LedgerRow {
  return {
    ts: Date.now(),
    requestId: `req_${i.toString(36).padStart(12, '0')}`,
    user: 'bench-user',
    team: 'bench-team',
    route: 'chat',
    requestedModel: 'gpt-4o-mini',
    model: 'gpt-4o-mini',
    upstream: 'sim',
    inputTokens: 30,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 12,
    usageEstimated: false,
    costUsd: 0.0000117,
    costAvoidedUsd: 0,
    promptCacheSavedUsd: 0,
    cache: 'miss',
    latencyMs: 3,
    status: 200,
    outcome: 'ok',
    stream: false,
  };
}

const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU µs of `TURNS` paced bursts, each appending `k` rows when `append` is set. */
async function pacedCpu(k: number, append?: (row: LedgerRow) => Promise<void>): Promise<number> {
  const writes: Promise<void>[] = [];
  const start = cpuUs();
  for (let t = 0; t < TURNS; t++) {
    if (append) for (let j = 0; j < k; j++) writes.push(append(rowFor(t * k + j)));
    await sleep(1);
  }
  await Promise.all(writes);
  return cpuUs() - start;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-ledger-bench-'));
  try {
    const store = new SqliteStore(join(dir, 'sluice.db'), { sweepIntervalMs: 0 });
    const ledger = store.ledger<LedgerRow>('usage');
    for (const k of BURSTS) {
      const perRow: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const idle = await pacedCpu(k);
        const busy = await pacedCpu(k, (row) => ledger.append(row));
        perRow.push((busy - idle) / (TURNS * k));
      }
      console.log(
        `${k} row(s) per turn (≈${k * 1000} rows/s): ${median(perRow).toFixed(2)} µs CPU per row ` +
          `(median of ${RUNS} × ${TURNS * k} rows)`,
      );
    }
    const rows = await ledger.query({ since: 0 });
    const expected = BURSTS.reduce((sum, k) => sum + RUNS * TURNS * k, 0);
    console.log(`rows stored: ${rows.length} (expected ${expected})`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
