import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

/**
 * A throw-away PostgreSQL for tests: `initdb` into a temp dir and `postgres` on a free
 * 127.0.0.1 port, as the `postgres` user when we are root (postgres refuses to run as root).
 * The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, newest version) or on PATH.
 * Durability is switched off (fsync, synchronous_commit): the data only has to survive a clean
 * stop / start, which is what the restart tests do.
 */
export interface PostgresProcess {
  url: string;
  /** Fast shutdown (SIGINT: active sessions cut, data kept), like an operator restarting it. */
  stop(): Promise<void>;
  /** Start again on the same port with the same data. */
  start(): Promise<void>;
  /** Stop for good and remove its data directory. */
  dispose(): Promise<void>;
}

/** The directory holding `initdb` and `postgres`, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(debian, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const found = which.status === 0 ? which.stdout.trim() : '';
  return found ? found.slice(0, found.lastIndexOf('/')) : undefined;
}

/** Why a throw-away server cannot be started here, or undefined when it can. */
export function postgresServerMissing(): string | undefined {
  if (!postgresBinDir()) {
    return 'no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH: apt-get install -y postgresql';
  }
  if (process.getuid?.() === 0 && userId('postgres') === undefined) {
    return 'running as root and there is no `postgres` user to run the server as (postgres refuses root)';
  }
  return undefined;
}

function userId(name: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** argv that runs `bin` as the postgres user when we are root, as ourselves otherwise. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', bin, ...args]];
  return [bin, args];
}

export async function startPostgresProcess(): Promise<PostgresProcess> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(postgresServerMissing());
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    const owner = userId('postgres');
    if (!owner) throw new Error(postgresServerMissing());
    chownSync(dir, owner.uid, owner.gid);
  }
  const [initCmd, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}\n${init.stderr}`);

  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const [cmd, args] = asServerUser(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ]);
    child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForReady(child);
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    // The postmaster's pid (runuser may stand between us and it): SIGINT is a fast shutdown.
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGINT');
    await exited;
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start,
    stop,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A database for one suite: a fresh database on `DATABASE_URL`'s server when that is set (the
 * shared server is left as found), else a throw-away server of our own, else a reason to skip.
 */
export type TestPostgres = { url: string; cleanup(): Promise<void> } | { skip: string };

export async function startTestPostgres(): Promise<TestPostgres> {
  const shared = process.env.DATABASE_URL;
  if (shared) {
    const name = `sluice_test_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: shared });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(shared);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      async cleanup() {
        const client = new pg.Client({ connectionString: shared });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      },
    };
  }
  const missing = postgresServerMissing();
  if (missing) return { skip: `PostgreSQL suite SKIPPED: no DATABASE_URL and ${missing}` };
  const server = await startPostgresProcess();
  return { url: server.url, cleanup: () => server.dispose() };
}

function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`postgres did not start:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited with ${code}:\n${output}`));
    });
  });
}
