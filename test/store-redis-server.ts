import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { type Backend, openBackend } from '../src/store/index.js';
import { freePort } from './free-port.js';

/**
 * A Redis for tests: `REDIS_URL` when set, else a throw-away `redis-server` on a free
 * 127.0.0.1 port (no persistence), else a reason to skip. Suites that need Redis must skip
 * with that reason, never pass silently.
 */
export type TestRedis = { url: string; stop(): Promise<void> } | { skip: string };

export async function startTestRedis(): Promise<TestRedis> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return {
      skip: 'Redis suite skipped: no REDIS_URL and no redis-server (apt-get install -y redis-server)',
    };
  }
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForRedisReady(child);
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A test harness over Redis: a key prefix of its own, removed again (and the server stopped) on cleanup. */
export interface RedisBackendHarness {
  open(): Promise<Backend>;
  durable: true;
  cleanup(): Promise<void>;
}

export async function redisBackendHarness(): Promise<RedisBackendHarness | { skip: string }> {
  const redis = await startTestRedis();
  if ('skip' in redis) return redis;
  const redisKeyPrefix = `sluice-test-${randomBytes(4).toString('hex')}:`;
  return {
    open: () => openBackend({ dataDir: '', redisUrl: redis.url, redisKeyPrefix }),
    durable: true,
    async cleanup() {
      // Leave a shared REDIS_URL as we found it.
      const client = new Redis(redis.url);
      const keys = await client.keys(`${redisKeyPrefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
      await redis.stop();
    },
  };
}

/** Resolves once a spawned redis-server says it accepts connections. */
export function waitForRedisReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output}`));
    });
  });
}
