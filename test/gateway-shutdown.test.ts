import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

describe('graceful shutdown of `sluice serve`', () => {
  it('on SIGTERM refuses new requests with 503, finishes the one in flight, then exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--port', '0'], {
      env: {
        ...process.env,
        SLUICE_DATA_DIR: `/tmp/sluice-shutdown-${process.pid}`,
        SLUICE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m) resolve(m[1]);
      });
      child.once('exit', () => reject(new Error(`gateway exited early:\n${stderr}`)));
    });
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'slow one' }] }),
      });
    const inFlight = post({ 'x-mock-fault': 'slow', 'x-mock-slow-ms': '1000' });
    await new Promise((r) => setTimeout(r, 300));
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const refused = await post({});
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'shutting_down');
    const finished = await inFlight;
    assert.equal(finished.status, 200, 'the request accepted before SIGTERM is answered');
    assert.ok(((await finished.json()) as { choices: unknown[] }).choices.length > 0, 'with a full body');
    const [code] = await exited;
    assert.equal(code, 0);
  });
});
