import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Counter, Histogram, Registry } from 'prom-client';
import { BatchedCounter, FastHistogram } from '../src/observe/series.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The metric's lines of a registry's text, without HELP/TYPE and in a stable order. */
function sampleLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .sort();
}

describe('metrics kept per series render as prom-client renders its own', () => {
  it('a histogram: same buckets, sums and counts, label for label', async () => {
    const buckets = [0.005, 0.01, 0.1, 1, 10];
    const observations: Array<[string, string, number]> = [
      ['gpt-4o', 'miss', 0.0049],
      ['gpt-4o', 'miss', 0.005],
      ['gpt-4o', 'miss', 0.2],
      ['gpt-4o', 'exact', 0.0001],
      ['claude "3"', 'miss', 12],
      ['gpt-4o', 'miss', 1],
    ];
    const reference = new Registry();
    const theirs = new Histogram({
      name: 'latency_seconds',
      help: 'h',
      labelNames: ['model', 'cache'],
      buckets,
      registers: [reference],
    });
    const ours = new Registry();
    const fast = new FastHistogram<'model' | 'cache'>({
      name: 'latency_seconds',
      help: 'h',
      buckets,
      registers: [ours],
    });
    for (const [model, cache, value] of observations) {
      theirs.observe({ model, cache }, value);
      fast.observe(`${model}\u0001${cache}`, () => ({ model, cache }), value);
    }
    assert.deepEqual(sampleLines(await ours.metrics()), sampleLines(await reference.metrics()));
  });

  it('a counter: increments gathered per series appear at the scrape, and keep adding after it', async () => {
    const reference = new Registry();
    const theirs = new Counter({
      name: 'requests_total',
      help: 'h',
      labelNames: ['model', 'status'],
      registers: [reference],
    });
    const ours = new Registry();
    const batched = new BatchedCounter<'model' | 'status'>({
      name: 'requests_total',
      help: 'h',
      labelNames: ['model', 'status'],
      registers: [ours],
    });
    const inc = (model: string, status: string, by = 1) => {
      theirs.inc({ model, status }, by);
      batched.inc(`${model}\u0001${status}`, () => ({ model, status }), by);
    };
    inc('gpt-4o', '2xx');
    inc('gpt-4o', '2xx', 2.5);
    inc('gpt-4o', '5xx');
    assert.deepEqual(sampleLines(await ours.metrics()), sampleLines(await reference.metrics()));
    inc('gpt-4o', '2xx');
    inc('other', '4xx');
    assert.deepEqual(sampleLines(await ours.metrics()), sampleLines(await reference.metrics()));
    assert.ok((await ours.metrics()).includes('requests_total{model="gpt-4o",status="2xx"} 4.5'));
  });
});

describe('stdout log lines gathered per event-loop turn', () => {
  it('reach stdout complete and in order, including those logged right before process.exit', () => {
    const script = `
      import { createLogger } from './src/observe/log.ts';
      const log = createLogger('info');
      for (let i = 0; i < 500; i++) log.info({ i }, 'first turn');
      setTimeout(() => {
        for (let i = 500; i < 1000; i++) log.info({ i }, 'before exit');
        process.exit(0);
      }, 20);
    `;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stdout.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 1000);
    lines.forEach((line, n) => {
      const parsed = JSON.parse(line) as { i: number; msg: string; level: number };
      assert.equal(parsed.i, n);
      assert.equal(parsed.level, 30);
      assert.equal(parsed.msg, n < 500 ? 'first turn' : 'before exit');
    });
  });
});
