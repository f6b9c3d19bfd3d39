import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { postJson, userChat } from './mock-helpers.js';

// Runs the command in a child process, as `sluice mock-upstream` would, to see it print its
// URL, serve, and exit cleanly on SIGTERM.
const ENTRY = `const { mockUpstreamCommand } = await import('./src/mock/index.ts');
await mockUpstreamCommand(JSON.parse(process.env.MOCK_ARGV));`;

function run(argv: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ENTRY], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, MOCK_ARGV: JSON.stringify(argv) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function firstLine(child: ReturnType<typeof run>): Promise<string> {
  let out = '';
  for await (const chunk of child.stdout) {
    out += chunk;
    if (out.includes('\n')) return out.split('\n')[0];
  }
  throw new Error(`no output; exit ${child.exitCode}`);
}

describe('mock-upstream command', () => {
  it('prints its URL, serves with the given faults, and exits on SIGTERM', async () => {
    const child = run(['--port', '0', '--rate-429', '1', '--retry-after', '3']);
    try {
      const url = await firstLine(child);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await postJson(`${url}/v1/chat/completions`, userChat('hi'));
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '3');
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a malformed number', async () => {
    const child = run(['--latency-ms', 'soon']);
    let err = '';
    child.stderr.on('data', (c) => {
      err += c;
    });
    const [code] = await once(child, 'exit');
    assert.notEqual(code, 0);
    assert.match(err, /--latency-ms expects a number/);
  });
});
