#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startSluice } from './app.js';
import { ConfigError, loadConfig } from './config/load.js';

const USAGE = `sluice — LLM performance gateway

Usage:
  sluice serve [--config FILE] [--port N] [--host H]   start the gateway (default 127.0.0.1:7878)
  sluice batch IN.jsonl -o OUT.jsonl [--concurrency N] run chat requests through the pipeline, resumable
  sluice eval-semantic --pairs FILE [--json]          the shipped semantic hit decision on labelled pairs
  sluice mock-upstream [--port N] [--latency-ms N]     run the simulated OpenAI/Anthropic upstream
  sluice help

Environment: SLUICE_CONFIG, SLUICE_DATA_DIR, REDIS_URL, OPENAI_API_KEY, OPENAI_BASE_URL,
ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, SLUICE_ADMIN_KEY, PORT, HOST.`;

type Command = (argv: string[]) => Promise<void>;

const COMMANDS: Record<string, Command> = {
  serve,
  batch,
  'eval-semantic': async (argv) => {
    const { evalSemanticCommand } = await import('./cache/semantic/eval.js');
    process.exitCode = await evalSemanticCommand(argv);
  },
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
  const { handleTermination } = await import('./flow/index.js');
  handleTermination({
    tracker: sluice.gateway.flow.tracker,
    graceMs: loaded.config.flow.shutdown.graceMs,
    // No server.close() here: on Node 20 it also drops connections whose request is still
    // being answered. The server keeps listening and new requests get 503 shutting_down.
    close: () => sluice.close(),
    log: (line) => log.info(line),
  });
}

/** `sluice batch IN.jsonl -o OUT.jsonl`: each line through the in-process pipeline. */
async function batch(argv: string[]): Promise<void> {
  const { batchCommand } = await import('./batch/cli.js');
  const { openGateway } = await import('./app.js');
  const loaded = loadConfig();
  const opened = await openGateway({
    config: { ...loaded.config, logLevel: 'warn' },
    simulated: loaded.simulated,
  });
  if (loaded.simulated) console.error('NOTE: no provider configured, using the SIMULATED upstream.');
  let code: number;
  try {
    code = await batchCommand(argv, {
      send: (body, { headers }) => opened.gateway.call('openai', 'chat', body, headers),
    });
  } finally {
    await opened.close();
  }
  process.exit(code);
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
