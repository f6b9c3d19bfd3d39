import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Service, startService } from './child.js';
import { freePort, LOOPBACK } from './ports.js';

/** The servers a scenario can need. Each runs in its own process and starts on first use. */
/**
 * The young-generation size Sluice's start commands give Node (package.json `start`, the bin's
 * shebang): Sluice runs with it, and the floor proxy gets the same for a like-for-like ratio.
 */
const YOUNG_GENERATION = ['--max-semi-space-size=64'];

export type ServiceId = 'mock' | 'mock-paced' | 'floor' | 'sluice' | 'sluice-cache' | 'portkey';

export interface LabOptions {
  /** Repository root (holds dist/ and node_modules/). */
  root: string;
  /** Per-token delay of the paced upstream used for time-to-first-byte runs. */
  pacedTokenDelayMs: number;
  /** Write V8 CPU profiles of the Sluice processes here. */
  profileDir?: string;
  /** Extra config merged into each Sluice variant's config file (e.g. the cache section). */
  sluiceConfig: Record<'sluice' | 'sluice-cache', Record<string, unknown>>;
  /** Sluice's stdout (its JSON logs) goes to a file in the scratch directory rather than a pipe to the bench. */
  sluiceStdoutToFile?: boolean;
  log: (line: string) => void;
}

/** Model names route between the two simulated upstreams, identically for every target. */
export const MODEL_FAST = 'bench-fast';
export const MODEL_PACED = 'bench-paced';
/**
 * Served only by the Anthropic-kind upstream: on the OpenAI route Sluice translates the call
 * (the simulated upstream speaks both dialects).
 */
export const MODEL_CLAUDE = 'claude-haiku-4-5';

// Variables that would change what a child serves or how it runs, whatever the config file says.
const SCRUBBED_ENV = [
  'PORT',
  'HOST',
  'SLUICE_CONFIG',
  'SLUICE_DATA_DIR',
  'SLUICE_LOG_LEVEL',
  'REDIS_URL',
  'NODE_OPTIONS',
];

/** Starts, hands out and stops the benchmark's servers. */
export class Lab {
  readonly #opts: LabOptions;
  readonly #services = new Map<ServiceId, Promise<Service>>();
  readonly #scratch = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  readonly #env: NodeJS.ProcessEnv;

  constructor(opts: LabOptions) {
    this.#opts = opts;
    this.#env = { ...process.env };
    for (const name of SCRUBBED_ENV) delete this.#env[name];
  }

  /**
   * Fails early, with the next step to take, when the build or Portkey is missing. Returns a
   * warning when src/ changed after the build (the benchmark runs dist/).
   */
  static checkBuild(root: string): string | undefined {
    const cli = join(root, 'dist', 'cli.js');
    if (!existsSync(cli) || !existsSync(join(root, 'dist', 'mock', 'index.js'))) {
      throw new Error(`${cli} or dist/mock/index.js not found: run \`npm run build\` first.`);
    }
    if (!existsSync(join(root, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'))) {
      throw new Error('@portkey-ai/gateway is not installed: run `npm install` (it is a devDependency).');
    }
    const newer = newestFile(join(root, 'src'));
    if (newer && newer.mtimeMs > statSync(cli).mtimeMs) {
      return `WARNING: ${newer.path} changed after the last build; the benchmark runs dist/ (run \`npm run build\`).`;
    }
    return undefined;
  }

  get(id: ServiceId): Promise<Service> {
    let service = this.#services.get(id);
    if (!service) {
      service = this.#start(id);
      this.#services.set(id, service);
    }
    return service;
  }

  /** Services already started, for the report (pids, ports). */
  async started(): Promise<Service[]> {
    return Promise.all([...this.#services.values()]);
  }

  async close(): Promise<void> {
    const services = await Promise.allSettled([...this.#services.values()]);
    // Gateways first, so they do not log upstream errors while the mocks go away.
    const order = (s: Service) => (s.name.startsWith('mock') ? 1 : 0);
    const running = services
      .flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
      .sort((a, b) => order(a) - order(b));
    for (const s of running) await s.stop();
    this.#services.clear();
    rmSync(this.#scratch, { recursive: true, force: true });
  }

  async #start(id: ServiceId): Promise<Service> {
    const port = await freePort();
    this.#opts.log(`starting ${id} on ${LOOPBACK}:${port}`);
    switch (id) {
      case 'mock':
        return this.#mock(id, port, 0);
      case 'mock-paced':
        return this.#mock(id, port, this.#opts.pacedTokenDelayMs);
      case 'sluice':
      case 'sluice-cache':
        return this.#sluice(id, port);
      case 'floor':
        return this.#floor(port);
      case 'portkey':
        return this.#portkey(port);
    }
  }

  #mock(name: string, port: number, tokenDelayMs: number): Promise<Service> {
    const entry = pathToFileURL(join(this.#opts.root, 'dist', 'mock', 'index.js')).href;
    // The library entry rather than the CLI: it takes the per-token delay the TTFB runs need.
    const script =
      `const { startMockUpstream } = await import(${JSON.stringify(entry)});` +
      `await startMockUpstream(${JSON.stringify({ port, host: LOOPBACK, latencyMs: 0, tokenDelayMs })});`;
    return startService({
      name,
      port,
      nodeArgs: ['--input-type=module', '-e', script],
      env: this.#env,
      cwd: this.#opts.root,
      hint: 'The simulated upstream comes from dist/mock/index.js: run `npm run build`.',
    });
  }

  async #sluice(name: 'sluice' | 'sluice-cache', port: number): Promise<Service> {
    const [fast, paced] = await Promise.all([this.get('mock'), this.get('mock-paced')]);
    const config = {
      host: LOOPBACK,
      port,
      logLevel: 'warn',
      dataDir: join(this.#scratch, `${name}-data`),
      upstreams: [
        { name: 'sim-paced', kind: 'openai', baseUrl: `${paced.url}/v1`, models: [MODEL_PACED] },
        // Not '*': an OpenAI-kind upstream serving every name would take the claude model natively.
        { name: 'sim', kind: 'openai', baseUrl: `${fast.url}/v1`, models: [MODEL_FAST] },
        { name: 'sim-a', kind: 'anthropic', baseUrl: `${fast.url}/v1`, models: ['claude-*'] },
      ],
      ...this.#opts.sluiceConfig[name],
    };
    const file = join(this.#scratch, `${name}.json`);
    writeFileSync(file, JSON.stringify(config, null, 2));
    const profile = this.#opts.profileDir
      ? ['--cpu-prof', '--cpu-prof-dir', join(this.#opts.profileDir, name)]
      : [];
    return startService({
      name,
      port,
      nodeArgs: [
        ...YOUNG_GENERATION,
        ...profile,
        join(this.#opts.root, 'dist', 'cli.js'),
        'serve',
        '--config',
        file,
        '--port',
        String(port),
      ],
      env: this.#env,
      cwd: this.#opts.root,
      stdoutFile: this.#opts.sluiceStdoutToFile ? join(this.#scratch, `${name}.log`) : undefined,
      hint: 'Run `npm run build`; if it still fails, start it by hand: node dist/cli.js serve --config FILE.',
    });
  }

  async #floor(port: number): Promise<Service> {
    const [fast, paced] = await Promise.all([this.get('mock'), this.get('mock-paced')]);
    return startService({
      name: 'floor',
      port,
      nodeArgs: [
        ...YOUNG_GENERATION,
        ...(this.#opts.profileDir
          ? ['--cpu-prof', '--cpu-prof-dir', join(this.#opts.profileDir, 'floor')]
          : []),
        join(this.#opts.root, 'bench', 'lib', 'floor-proxy.mjs'),
        String(port),
        fast.url,
        paced.url,
        MODEL_PACED,
      ],
      env: this.#env,
      cwd: this.#opts.root,
    });
  }

  #portkey(port: number): Promise<Service> {
    const bind = join(this.#opts.root, 'bench', 'portkey-bind.cjs');
    const server = join(
      this.#opts.root,
      'node_modules',
      '@portkey-ai',
      'gateway',
      'build',
      'start-server.js',
    );
    return startService({
      name: 'portkey',
      port,
      // --headless: no UI and no log streaming to it, Portkey's leanest mode.
      nodeArgs: ['--require', bind, server, `--port=${port}`, '--headless'],
      env: this.#env,
      cwd: this.#opts.root,
      startTimeoutMs: 30_000,
      hint: 'Check that `npm install` completed (with the hono / @hono/node-server overrides).',
    });
  }
}

function newestFile(dir: string): { path: string; mtimeMs: number } | undefined {
  let newest: { path: string; mtimeMs: number } | undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const { mtimeMs } = statSync(path);
    if (!newest || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  }
  return newest;
}
