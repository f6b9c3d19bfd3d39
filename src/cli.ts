#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startSluice } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';

const USAGE = `sluice — LLM performance gateway

Usage:
  sluice serve [--config FILE] [--port N] [--host H]   start the gateway (default 127.0.0.1:7878)
  sluice mock-upstream [--port N] [--latency-ms N]     run the simulated OpenAI/Anthropic upstream
  sluice help

Environment: SLUICE_CONFIG, SLUICE_DATA_DIR, REDIS_URL, OPENAI_API_KEY, OPENAI_BASE_URL,
ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, SLUICE_ADMIN_KEY, PORT, HOST.`;

type Command = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  serve,
  'mock-upstream': async (argv) => (await import('./mock/index.js')).mockUpstreamCommand(argv),
  help: async () => console.log(USAGE),
};

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
    },
  });
  const loaded = loadConfig({
    file: values.config,
    overrides: { port: values.port === undefined ? undefined : Number(values.port), host: values.host },
  });
  const sluice = await startSluice({ config: loaded.config, simulated: loaded.simulated });
  const { log } = sluice.gateway;
  log.info(
    { url: sluice.url, upstreams: sluice.gateway.router.upstreams.map((u) => u.name) },
    'sluice listening',
  );
  console.error(`sluice listening on ${sluice.url}`);
  console.error(`upstreams: ${loaded.source}`);
  if (loaded.simulated) {
    console.error(
      'NOTE: no provider configured, answering from the built-in SIMULATED upstream (replies are synthetic).\n' +
        '      Set OPENAI_API_KEY / ANTHROPIC_API_KEY or pass --config to reach real providers.',
    );
  }
  const stop = async (signal: string) => {
    log.info({ signal }, 'shutting down');
    await sluice.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

async function main(): Promise<void> {
  const [name = 'serve', ...rest] = process.argv.slice(2);
  const command = COMMANDS[name];
  if (!command) {
    console.error(`unknown command '${name}'\n\n${USAGE}`);
    process.exit(2);
  }
  await command(rest);
}

main().catch((e: unknown) => {
  if (e instanceof ConfigError) console.error(e.message);
  else console.error(e);
  process.exit(1);
});
