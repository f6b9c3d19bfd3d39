import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitForRedisReady } from './store-redis-server.js';

/**
 * A `redis-server` of our own that a test may stop, restart (on the same port, with its data:
 * it saves an RDB on SIGTERM) and stall (SIGSTOP), never the shared REDIS_URL.
 */
export interface RedisProcess {
  url: string;
  /** Shut down cleanly (saves its data), like an operator restarting Redis. */
  stop(): Promise<void>;
  /** Start again on the same port with the saved data. */
  start(): Promise<void>;
  /** Freeze the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  resume(): void;
  /** Stop for good and remove its data directory. */
  dispose(): Promise<void>;
}

export function redisServerMissing(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'no redis-server on PATH (apt-get install -y redis-server)';
  return undefined;
}

export async function startRedisProcess(): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sluice-redis-'));
  let child: ChildProcess | undefined;
  let paused = false;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '3600 1', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await waitForRedisReady(child);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (paused) {
      child.kill('SIGCONT');
      paused = false;
    }
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    pause() {
      child?.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      child?.kill('SIGCONT');
      paused = false;
    },
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
