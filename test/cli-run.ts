import { spawn } from 'node:child_process';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ROOT = new URL('..', import.meta.url);

/** Env for a child `sluice`: no provider keys from the developer's shell, a throw-away data dir. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL'])
    delete env[name];
  for (const name of ['SLUICE_CONFIG', 'SLUICE_ADMIN_KEY', 'PORT', 'HOST']) delete env[name];
  env.SLUICE_DATA_DIR = `/tmp/sluice-cli-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  env.SLUICE_LOG_LEVEL = 'silent';
  return { ...env, ...extra };
}

/** Runs `sluice ARGS` from the sources as a user would (`npx tsx src/cli.ts`) and waits for it to exit. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv()): Promise<CliRun> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => {
    stdout += c;
  });
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} did not exit; stderr: ${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = cleanEnv()) {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Reads a running child's stderr until `pattern` shows up; returns everything read so far. */
export async function stderrUntil(child: ReturnType<typeof spawnCli>, pattern: RegExp): Promise<string> {
  let text = '';
  for await (const chunk of child.stderr) {
    text += chunk;
    if (pattern.test(text)) return text;
  }
  throw new Error(`exited (code ${child.exitCode}) before printing ${pattern}; stderr: ${text}`);
}
