import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Config, configSchema } from './index.js';
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
}

export interface LoadedConfig {
  config: Config;
  /** True when no upstream was configured and the built-in simulated upstream serves. */
  simulated: boolean;
  /** How the upstreams were chosen, for the start-up banner. */
  source: string;
}

/** Read, merge and validate the configuration once at boot. Throws ConfigError naming the bad field. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.SLUICE_CONFIG;
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  applyEnv(raw, env);
  Object.assign(raw, stripUndefined(opts.overrides ?? {}));

  let source = file ? `config file ${file}` : 'defaults';
  let simulated = false;
  if (!Array.isArray(raw.upstreams) || raw.upstreams.length === 0) {
    const fromEnv = upstreamsFromEnv(env);
    raw.upstreams = fromEnv;
    if (fromEnv.length > 0) source = `environment (${fromEnv.map((u) => u.name).join(', ')})`;
    else simulated = true;
  }
  const config = validateConfig(raw);
  if (simulated) source = 'built-in simulated upstream (no OPENAI_API_KEY, ANTHROPIC_API_KEY or config)';
  return { config, simulated, source };
}

export function validateConfig(raw: unknown): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`invalid config:\n${formatIssues(parsed.error)}`);
  return parsed.data;
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
  if (env.SLUICE_LOG_LEVEL) raw.logLevel = env.SLUICE_LOG_LEVEL;
}

/** Upstreams from the providers' usual variables. A base URL alone (vLLM, Ollama) counts too. */
export function upstreamsFromEnv(env: NodeJS.ProcessEnv): Array<Partial<UpstreamConfig>> {
  const list: Array<Partial<UpstreamConfig>> = [];
  if (env.ANTHROPIC_API_KEY || env.ANTHROPIC_BASE_URL) {
    list.push({
      name: 'anthropic',
      kind: 'anthropic',
      baseUrl: withV1(env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com'),
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

/** The Anthropic SDK's base URL has no /v1; ours includes the API prefix. */
function withV1(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.reduce<string>(
        (acc, part) =>
          typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part),
        '',
      );
      return `  ${path || '(root)'}: ${issue.message}`;
    })
    .join('\n');
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
