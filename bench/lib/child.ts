import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOOPBACK } from './ports.js';

export interface ServiceSpec {
  /** Shown in progress and error messages. */
  name: string;
  port: number;
  /** Node flags (e.g. `--cpu-prof`) followed by the script and its arguments. */
  nodeArgs: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** How long the child may take to accept connections. */
  startTimeoutMs?: number;
  /** Printed when the child fails to start: what to do next. */
  hint?: string;
  /** Send the child's stdout to this file (as `> file` would) instead of a pipe the bench reads. */
  stdoutFile?: string;
}

/** A server in its own Node process, so it never shares an event loop with the load generator. */
export interface Service {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly pid: number;
  /** Recent stderr/stdout lines, for error messages. */
  output(): string;
  /** SIGTERM (so `--cpu-prof` gets written on a clean exit), SIGKILL after a grace period. */
  stop(): Promise<void>;
}

const OUTPUT_LINES = 40;
const OUTPUT_BYTES = 64 * 1024;
const live = new Set<ChildProcess>();

// A crashed or interrupted benchmark must not leave servers behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function startService(spec: ServiceSpec): Promise<Service> {
  const stdoutFd = spec.stdoutFile ? openSync(spec.stdoutFile, 'a') : undefined;
  const child = spawn(process.execPath, spec.nodeArgs, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
  });
  if (stdoutFd !== undefined) closeSync(stdoutFd);
  live.add(child);
  // Raw chunks, split into lines only when asked: a gateway logging one line per request under
  // load must not have the load generator's process spend its CPU splitting them.
  const chunks: Buffer[] = [];
  let kept = 0;
  const keep = (chunk: Buffer) => {
    chunks.push(chunk);
    kept += chunk.length;
    while (kept - chunks[0].length >= OUTPUT_BYTES) kept -= chunks.shift()?.length ?? 0;
  };
  const lastLines = () =>
    Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .slice(-OUTPUT_LINES)
      .join('\n');
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });

  const deadline = Date.now() + (spec.startTimeoutMs ?? 20_000);
  while (!(await accepts(spec.port))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      child.kill('SIGKILL');
      const why = exitCode !== undefined ? `exited with code ${exitCode}` : 'did not listen in time';
      throw new Error(
        `${spec.name} ${why} (node ${spec.nodeArgs.join(' ')}).\n` +
          (spec.hint ? `${spec.hint}\n` : '') +
          `Its last output:\n${lastLines() || '(none)'}`,
      );
    }
    await sleep(50);
  }

  return {
    name: spec.name,
    port: spec.port,
    url: `http://${LOOPBACK}:${spec.port}`,
    pid: child.pid ?? -1,
    output: lastLines,
    async stop() {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, LOOPBACK);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
