import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Config, configSchema } from './index.js';
import { formatConfigIssues } from './issues.js';
import type { UpstreamConfig } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadOptions {
  /** Path to a YAML or JSON config file (`--config` / `SLUICE_CONFIG`). */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and env (CLI flags). */
  overrides?: Partial<Pick<Config, 'port' | 'host'>>;
  /**
   * Serve from the simulated upstream even though a config file was given (`serve --simulated`).
   * Without it, a config file that names no upstream is an error: the user asked for a setup and
   * must not silently get synthetic replies.
   */
  simulated?: boolean;
}

export interface LoadedConfig {
  config: Config;
  /** True when no upstream was configured and the built-in simulated upstream serves. */
  simulated: boolean;
  /** How the upstreams were chosen, for the start-up banner. */
  source: string;
  /** Things that will not stop start-up but probably are mistakes (an unset `apiKeyEnv`). */
  warnings: string[];
}

/** Read, merge and validate the configuration once at boot. Throws ConfigError naming the bad field. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.SLUICE_CONFIG;
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  applyEnv(raw, env);
  Object.assign(raw, stripUndefined(opts.overrides ?? {}));
  // Validate what the user wrote before filling anything in, so a misspelt `upstreams` is
  // reported as such rather than papered over by the fallbacks below.
  const written = configSchema.safeParse(raw);
  if (!written.success) throw invalidConfig(written.error, file);

  let source = file ? `config file ${file}` : 'defaults';
  let simulated = false;
  if (opts.simulated) {
    raw.upstreams = [];
    simulated = true;
  } else if (!Array.isArray(raw.upstreams) || raw.upstreams.length === 0) {
    const fromEnv = upstreamsFromEnv(env);
    raw.upstreams = fromEnv;
    if (fromEnv.length > 0) source = `environment (${fromEnv.map((u) => u.name).join(', ')})`;
    else if (file) {
      throw new ConfigError(
        `config file ${file} names no upstream, and neither OPENAI_API_KEY nor ANTHROPIC_API_KEY is set.\n` +
          '  Add an `upstreams:` list (see docs/configuration.md), set a provider key, or pass --simulated\n' +
          '  to answer from the built-in simulated upstream.',
      );
    } else simulated = true;
  }
  const config = validateConfig(raw);
  if (simulated) {
    source = file
      ? `built-in simulated upstream (--simulated; config file ${file})`
      : 'built-in simulated upstream (no OPENAI_API_KEY, ANTHROPIC_API_KEY or config)';
  }
  return { config, simulated, source, warnings: simulated ? [] : configWarnings(config, env) };
}

/** Mistakes that do not stop start-up: an upstream whose key variable is unset will answer 401. */
export function configWarnings(config: Pick<Config, 'upstreams'>, env: NodeJS.ProcessEnv): string[] {
  return config.upstreams.flatMap((u) =>
    u.apiKeyEnv && !env[u.apiKeyEnv]
      ? [
          `upstream ${u.name}: apiKeyEnv ${u.apiKeyEnv} is not set, so requests to it go without a key ` +
            '(the provider will likely answer 401)',
        ]
      : [],
  );
}

export function validateConfig(raw: unknown): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw invalidConfig(parsed.error);
  return parsed.data;
}

function invalidConfig(error: z.ZodError, file?: string): ConfigError {
  return new ConfigError(`invalid config${file ? ` in ${file}` : ''}:\n${formatConfigIssues(error)}`);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  try {
    const data: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    if (data === null || data === undefined) return {};
    if (typeof data !== 'object' || Array.isArray(data)) throw new Error('top level must be a mapping');
    return data as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`cannot parse config file ${file}: ${(e as Error).message}`);
  }
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  if (env.PORT) raw.port = Number(env.PORT);
  if (env.HOST) raw.host = env.HOST;
  if (env.SLUICE_DATA_DIR) raw.dataDir = env.SLUICE_DATA_DIR;
  if (env.REDIS_URL) raw.redisUrl = env.REDIS_URL;
  if (env.DATABASE_URL) raw.databaseUrl = env.DATABASE_URL;
  if (env.SLUICE_LOG_LEVEL) raw.logLevel = env.SLUICE_LOG_LEVEL;
}

/** Upstreams from the providers' usual variables. A base URL alone (vLLM, Ollama) counts too. */
export function upstreamsFromEnv(env: NodeJS.ProcessEnv): Array<Partial<UpstreamConfig>> {
  const list: Array<Partial<UpstreamConfig>> = [];
  if (env.ANTHROPIC_API_KEY || env.ANTHROPIC_BASE_URL) {
    list.push({
      name: 'anthropic',
      kind: 'anthropic',
      baseUrl: env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com',
      apiKeyEnv: env.ANTHROPIC_API_KEY ? 'ANTHROPIC_API_KEY' : undefined,
      models: ['*'],
    });
  }
  if (env.OPENAI_API_KEY || env.OPENAI_BASE_URL) {
    list.push({
      name: 'openai',
      kind: 'openai',
      baseUrl: env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      apiKeyEnv: env.OPENAI_API_KEY ? 'OPENAI_API_KEY' : undefined,
      models: ['*'],
    });
  }
  return list;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
