import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { summariseProfile } from '../bench/lib/cpuprofile.js';
import { runLoad } from '../bench/lib/load.js';
import { writeSection } from '../bench/lib/markdown.js';
import { checks, medianRound, type Outcome } from '../bench/lib/report.js';
import { allScenarios, type Scenario, selectScenarios } from '../bench/lib/scenarios.js';
import { Samples, summarise } from '../bench/lib/stats.js';
import type { HttpRequestSpec } from '../bench/lib/targets.js';
import { measureTtfb } from '../bench/lib/ttfb.js';
import { verifyChat } from '../bench/lib/verify.js';

const run = promisify(execFile);
const scratch = () => mkdtempSync(join(tmpdir(), 'bench-test-'));

async function serve(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const post = (url: string): HttpRequestSpec => ({
  url,
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: '{}',
});

describe('bench stats', () => {
  it('takes nearest-rank percentiles', () => {
    const s = summarise(Array.from({ length: 100 }, (_, i) => 100 - i));
    assert.deepEqual([s.count, s.p50, s.p90, s.p99, s.max, s.mean], [100, 50, 90, 99, 100, 50.5]);
  });

  it('keeps every sample past its initial capacity', () => {
    const samples = new Samples();
    for (let i = 0; i < 10_000; i++) samples.add(i / 10);
    const s = samples.summary();
    assert.equal(s.count, 10_000);
    assert.equal(s.max, 999.9);
  });
});

describe('BENCHMARKS.md sections', () => {
  it('creates, replaces and appends marked sections, leaving the others alone', () => {
    const file = join(scratch(), 'BENCHMARKS.md');
    writeSection(file, 'core', 'first');
    writeSection(file, 'semantic', 'other script');
    writeSection(file, 'core', 'second');
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# Benchmarks/);
    assert.match(text, /<!-- core:start -->\nsecond\n<!-- core:end -->/);
    assert.match(text, /<!-- semantic:start -->\nother script\n<!-- semantic:end -->/);
    assert.doesNotMatch(text, /first/);
    assert.ok(text.indexOf('core:start') < text.indexOf('semantic:start'), 'sections keep their place');
  });
});

describe('scenario list', () => {
  const all = allScenarios();

  it('covers direct, the floor proxy, Sluice and Portkey at both concurrencies, both modes, plus TTFB', () => {
    const core = all.filter((s) => s.group === 'core');
    assert.equal(core.filter((s) => s.kind === 'load').length, 4 * 2 * 2);
    assert.deepEqual(
      core.filter((s) => s.kind === 'ttfb').map((s) => s.target),
      ['direct', 'floor', 'sluice', 'portkey'],
    );
    assert.equal(new Set(all.map((s) => s.name)).size, all.length, 'names are unique');
  });

  it('selects by name, group, target and glob, and rejects what matches nothing', () => {
    const names = (only: string[]) => selectScenarios(all, only).map((s) => s.name);
    assert.deepEqual(names(['sluice-json-c1']), ['sluice-json-c1']);
    assert.ok(names(['cache']).every((n) => n.startsWith('cache-')));
    assert.ok(names(['portkey']).every((n) => n.startsWith('portkey-')));
    assert.deepEqual(names(['*-stream-c1']), [
      'direct-stream-c1',
      'floor-stream-c1',
      'sluice-stream-c1',
      'portkey-stream-c1',
      'sluice-translated-stream-c1',
    ]);
    assert.ok(
      names(['translate']).every(
        (n) => n.startsWith('sluice-translated-') || n.startsWith('sluice-anthropic-'),
      ),
    );
    assert.throws(() => selectScenarios(all, ['nope']), /nothing matches nope/);
  });
});

describe('target checks', () => {
  const byName = new Map(allScenarios().map((s) => [s.name, s]));
  const load = (name: string, rps: number, p50: number, p99: number): Outcome => ({
    scenario: byName.get(name) as Scenario,
    load: {
      connections: 1,
      durationS: 1,
      rps,
      responses: rps,
      latency: { count: rps, mean: p50, p50, p90: p50, p99, max: p99 },
      errors: 0,
      timeouts: 0,
      non2xx: 0,
    },
  });

  it('computes ratios and added latency against the baselines', () => {
    const list = checks([
      load('direct-json-c50', 10_000, 4, 9),
      load('sluice-json-c50', 5_000, 9, 20),
      load('portkey-json-c50', 400, 100, 300),
      load('direct-json-c1', 5_000, 0.1, 0.5),
      load('sluice-json-c1', 3_000, 0.3, 2),
    ]);
    const get = (check: string) => list.find((c) => c.check === check);
    assert.deepEqual(get('Sluice ÷ Portkey throughput, c=50, non-streaming'), {
      group: 'core',
      check: 'Sluice ÷ Portkey throughput, c=50, non-streaming',
      measured: '12.5×',
      target: '≥ 10×',
      pass: true,
    });
    assert.equal(get('Sluice ÷ direct throughput, c=50, non-streaming')?.measured, '50 %');
    assert.equal(get('Sluice added p50 latency, c=1, non-streaming')?.pass, true);
    assert.equal(get('Sluice added p99 latency, c=1, non-streaming')?.measured, '+1.50 ms');
    assert.equal(get('Sluice added p99 latency, c=1, non-streaming')?.pass, false);
    assert.equal(get('Sluice added stream TTFB p50'), undefined, 'no TTFB scenario ran');
  });

  it('keeps the median round, and a failure in any round', () => {
    const rounds = [
      load('sluice-json-c50', 900, 1, 2),
      load('sluice-json-c50', 100, 1, 2),
      load('sluice-json-c50', 500, 1, 2),
    ];
    assert.equal(medianRound(rounds).load?.rps, 500);
    const failed: Outcome = { ...rounds[0], error: 'boom' };
    assert.equal(medianRound([rounds[1], failed, rounds[2]]).error, 'boom');
  });

  it('leaves out the numbers of failed scenarios', () => {
    const failed: Outcome = { ...load('sluice-json-c50', 5_000, 9, 20), error: '3 errors' };
    const list = checks([
      load('direct-json-c50', 10_000, 4, 9),
      failed,
      load('portkey-json-c50', 400, 100, 300),
    ]);
    assert.equal(
      list.find((c) => c.check.startsWith('Sluice ÷')),
      undefined,
    );
  });
});

describe('CPU profile summary', () => {
  it('sums self time per function and file, idle apart', () => {
    const file = join(scratch(), 'x.cpuprofile');
    const frame = (functionName: string, url: string) => ({
      functionName,
      url,
      lineNumber: 9,
      columnNumber: 0,
    });
    writeFileSync(
      file,
      JSON.stringify({
        nodes: [
          { id: 1, callFrame: frame('(idle)', '') },
          { id: 2, callFrame: frame('handle', 'file:///repo/dist/server/http.js') },
          { id: 3, callFrame: frame('parse', 'file:///repo/node_modules/undici/lib/x.js') },
        ],
        samples: [1, 2, 3, 2, 1],
        timeDeltas: [1000, 3000, 2000, 3000, 1000],
      }),
    );
    const s = summariseProfile(file, '/repo');
    assert.equal(s.idleMs, 2);
    assert.equal(s.busyMs, 8);
    assert.deepEqual(s.byFunction[0], { name: 'handle  dist/server/http.js:10', ms: 6, share: 0.75 });
    assert.deepEqual(
      s.byArea.map((a) => a.name),
      ['dist/server/', 'npm:undici'],
    );
  });
});

describe('portkey-bind preload', () => {
  it('pins every listen form to 127.0.0.1', async () => {
    const script = `
      const net = require('node:net');
      const forms = [(s, cb) => s.listen(0, cb), (s, cb) => s.listen(0, undefined, cb),
        (s, cb) => s.listen(0, '0.0.0.0', cb), (s, cb) => s.listen({ port: 0 }, cb)];
      (async () => {
        for (const f of forms) {
          const s = net.createServer();
          await new Promise((r) => f(s, r));
          console.log(s.address().address);
          s.close();
        }
      })();`;
    const bind = join(import.meta.dirname, '..', 'bench', 'portkey-bind.cjs');
    const { stdout } = await run(process.execPath, ['--require', bind, '-e', script]);
    assert.deepEqual(stdout.trim().split('\n'), ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });
});

describe('measuring clients', () => {
  it('times a stream’s first byte apart from its end', async () => {
    const { server, url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"first":true}\n\n');
      setTimeout(() => res.end('data: [DONE]\n\n'), 30);
    });
    try {
      const t = await measureTtfb(post(url), { requests: 3, warmup: 1 });
      assert.equal(t.firstByte.count, 3);
      assert.ok(t.total.p50 >= 30, `whole stream took ${t.total.p50} ms, the server waits 30 ms`);
      assert.ok(t.firstByte.max < t.total.p50, 'the first byte comes before the end');
    } finally {
      server.close();
    }
  });

  it('counts replies and keeps sub-millisecond latencies under load', async () => {
    const { server, url } = await serve((_req, res) => res.end('{"ok":true}'));
    try {
      const r = await runLoad(post(url), { connections: 2, durationS: 1, warmupS: 0 });
      assert.ok(r.responses > 0);
      assert.equal(r.latency.count, r.responses);
      assert.equal(r.errors + r.timeouts + r.non2xx, 0);
      assert.ok(!Number.isInteger(r.latency.p50), `p50 ${r.latency.p50} keeps its fraction`);
    } finally {
      server.close();
    }
  });

  it('rejects replies that are not well-formed chat completions', async () => {
    const replies: Record<string, [string, string]> = {
      '/good': [
        'application/json',
        '{"object":"chat.completion","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}',
      ],
      // Content alone is not a chat completion (a translated reply must be one).
      '/shapeless': ['application/json', '{"choices":[{"message":{"content":"hi"}}]}'],
      '/error': ['application/json', '{"error":{"message":"nope"}}'],
      '/stream-good': [
        'text/event-stream',
        'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"hi"}}]}\n\n' +
          'data: {"object":"chat.completion.chunk","choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
      ],
      '/stream-cut': ['text/event-stream', 'data: {"object":"chat.completion.chunk","choices":[]}\n\n'],
    };
    const { server, url } = await serve((req, res) => {
      const [type, body] = replies[req.url ?? ''];
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    });
    try {
      assert.equal((await verifyChat(post(`${url}/good`), false, 'good')).text, 'hi');
      await assert.rejects(
        verifyChat(post(`${url}/shapeless`), false, 'shapeless'),
        /object 'chat.completion'/,
      );
      await assert.rejects(verifyChat(post(`${url}/error`), false, 'error'), /object 'chat.completion'/);
      assert.equal((await verifyChat(post(`${url}/stream-good`), true, 'sg')).text, 'hi');
      await assert.rejects(
        verifyChat(post(`${url}/stream-cut`), true, 'sc'),
        /does not end with data: \[DONE\]/,
      );
    } finally {
      server.close();
    }
  });
});
