import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite.js';

/**
 * The embedded ledger's group commits: what another connection to the file (another process, a
 * restart) can see, and when. The shared suite covers what one store reads back.
 */

interface Call {
  ts: number;
  user: string;
  costUsd: number | null;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('store: sqlite ledger group commits', () => {
  let dataDir: string;
  let file: string;
  let store: SqliteStore;
  /** A second connection: it sees committed rows only. */
  let outside: Database.Database;
  const committed = () =>
    (
      outside.prepare("SELECT row FROM ledger WHERE name = 'usage' ORDER BY id").all() as { row: string }[]
    ).map((r) => JSON.parse(r.row) as Call);

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'sluice-ledger-'));
    file = join(dataDir, 'sluice.db');
    store = new SqliteStore(file, { sweepIntervalMs: 0 });
    outside = new Database(file, { readonly: true });
  });

  afterEach(async () => {
    outside.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('commits a row appended while quiet on the next turn, and groups the rows that follow it', async () => {
    // A long interval, so the group commit cannot come before the checks below on a slow machine.
    await store.close();
    store = new SqliteStore(file, { sweepIntervalMs: 0, ledgerCommitIntervalMs: 60_000 });
    const ledger = store.ledger<Call>('usage');
    await ledger.append({ ts: 1, user: 'ann', costUsd: 0.5 });
    assert.deepEqual(committed(), [{ ts: 1, user: 'ann', costUsd: 0.5 }]);

    // Right after a commit, more rows wait for the group commit instead of a commit per turn...
    const second = ledger.append({ ts: 2, user: 'bob', costUsd: null });
    await nextTurn();
    assert.equal(committed().length, 1);
    const third = ledger.append({ ts: 3, user: 'cy', costUsd: 0 });
    assert.equal(second, third, 'rows waiting together share one commit');
    // ...which this store's own reads do not wait for.
    assert.deepEqual(
      (await ledger.query({ since: 0 })).map((r) => r.ts),
      [1, 2, 3],
    );
    await third;
    assert.deepEqual(
      committed().map((r) => r.user),
      ['ann', 'bob', 'cy'],
    );
  });

  it('resolves an append only once its row is committed, within the commit interval', async () => {
    const ledger = store.ledger<Call>('usage');
    await ledger.append({ ts: 1, user: 'ann', costUsd: 1 });
    const started = performance.now();
    await ledger.append({ ts: 2, user: 'ann', costUsd: 2 });
    const waited = performance.now() - started;
    assert.equal(committed().length, 2);
    assert.ok(waited < 500, `waited ${waited} ms`);
  });

  it('stores a large burst whole, in order, committing once 256 rows wait', async () => {
    const ledger = store.ledger<Call>('usage');
    await ledger.append({ ts: 0, user: 'warm', costUsd: 0 });
    const rows = Array.from({ length: 341 }, (_, i) => ({ ts: i + 1, user: `u${i}`, costUsd: i / 7 }));
    const appends = rows.slice(0, 256).map((row) => ledger.append(row));
    assert.equal(committed().length, 1 + 256, 'the 256th row committed the burst at once');
    appends.push(...rows.slice(256).map((row) => ledger.append(row)));
    await Promise.all(appends);
    assert.deepEqual(committed().slice(1), rows);
  });

  it('commits rows still waiting when the store closes', async () => {
    const ledger = store.ledger<Call>('usage');
    await ledger.append({ ts: 1, user: 'ann', costUsd: 1 });
    const pending = [2, 3].map((ts) => ledger.append({ ts, user: 'bob', costUsd: ts }));
    await store.close();
    await Promise.all(pending);
    store = new SqliteStore(file, { sweepIntervalMs: 0 });
    assert.deepEqual(
      (await store.ledger<Call>('usage').query({ since: 0 })).map((r) => r.ts),
      [1, 2, 3],
    );
  });

  it('rejects the appends of a batch whose commit failed', async () => {
    const ledger = store.ledger<Call>('usage');
    store.db.close();
    await assert.rejects(ledger.append({ ts: 1, user: 'ann', costUsd: 1 }), /not open/);
    store = new SqliteStore(file, { sweepIntervalMs: 0 });
    assert.deepEqual(await store.ledger<Call>('usage').query({ since: 0 }), []);
  });
});
