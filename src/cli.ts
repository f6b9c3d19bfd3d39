#!/usr/bin/env -S node --max-semi-space-size=64
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startSluice } from './app.js';
import { describeAuthMode } from './auth/mode.js';
import { UsageError, userError } from './cli-errors.js';
import { ConfigError, loadConfig } from './config/load.js';

const USAGE = `sluice — LLM performance gateway

Usage (from a checkout: npx sluice …, or npx tsx src/cli.ts … without a build):
  sluice [serve] [--config FILE] [--port N] [--host H] [--simulated]
                                                      start the gateway (default 127.0.0.1:7878)
  sluice batch IN.jsonl -o OUT.jsonl [--concurrency N] run requests through the pipeline, resumable
  sluice eval-semantic --pairs FILE [--json]          the shipped semantic hit decision on labelled pairs
  sluice mock-upstream [--port N] [--latency-ms N]     run the simulated OpenAI/Anthropic upstream
  sluice help [COMMAND]                               this text, or a command's options
  sluice --version

'sluice COMMAND --help' lists a command's options.

Environment: SLUICE_CONFIG, SLUICE_DATA_DIR, REDIS_URL, DATABASE_URL, OPENAI_API_KEY, OPENAI_BASE_URL,
ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, SLUICE_ADMIN_KEY, PORT, HOST.`;

const SERVE_USAGE = `Usage: sluice serve [options]
  -c, --config FILE     YAML or JSON config (also SLUICE_CONFIG); see docs/configuration.md
  -p, --port N          listen port (default 7878; 0 = any free port)
      --host H          listen address (default 127.0.0.1)
      --simulated       answer from the built-in simulated upstream even with a config file
  -h, --help            this help

Without --config and provider keys (OPENAI_API_KEY, ANTHROPIC_API_KEY) the simulated upstream
serves, and start-up says so.`;

const EVAL_SEMANTIC_USAGE = `Usage: sluice eval-semantic --pairs FILE [options]
  --pairs FILE          JSONL of {"a", "b", "duplicate"} text pairs
  --json                print the result as JSON
  --shared              all entries in one partition (exercises the HNSW index)
  --data-dir DIR        where embeddings are cached (default SLUICE_DATA_DIR or .sluice)
  -h, --help            this help`;

interface Command {
  run(argv: string[]): Promise<void>;
  usage(): Promise<string>;
}

const COMMANDS: Record<string, Command> = {
  serve: { run: serve, usage: async () => SERVE_USAGE },
  batch: {
    run: batch,
    usage: async () => (await import('./batch/cli.js')).BATCH_USAGE,
  },
  'eval-semantic': {
    run: async (argv) => {
      const { evalSemanticCommand } = await import('./cache/semantic/eval.js');
      process.exitCode = await evalSemanticCommand(argv);
    },
    usage: async () => EVAL_SEMANTIC_USAGE,
  },
  'mock-upstream': {
    run: async (argv) => (await import('./mock/index.js')).mockUpstreamCommand(argv),
    usage: async () => (await import('./mock/cli.js')).MOCK_UPSTREAM_USAGE,
  },
};

const HELP_FLAGS = new Set(['--help', '-h']);
const VERSION_FLAGS = new Set(['--version', '-v', '-V']);

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function portFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const port = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port expects a port number from 0 to 65535, got "${raw}"`);
  return port;
}

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      simulated: { type: 'boolean', default: false },
    },
  });
  const loaded = loadConfig({
    file: values.config,
    overrides: { port: portFlag(values.port), host: values.host },
    simulated: values.simulated,
  });
  for (const warning of loaded.warnings) console.error(`WARNING: ${warning}`);
  const sluice = await startSluice({ config: loaded.config, simulated: loaded.simulated });
  const { log } = sluice.gateway;
  log.info(
    { url: sluice.url, upstreams: sluice.gateway.router.upstreams.map((u) => u.name) },
    'sluice listening',
  );
  console.error(`sluice listening on ${sluice.url}`);
  console.error(`upstreams: ${loaded.source}`);
  const hasKeys = await sluice.gateway.economy.keys.hasKeys();
  console.error(describeAuthMode(loaded.config.auth.required, hasKeys));
  if (loaded.simulated) {
    console.error(
      'NOTE: answering from the built-in SIMULATED upstream (replies are synthetic).\n' +
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
  const { openInProcessGateway } = await import('./batch/gateway.js');
  process.exit(await batchCommand(argv, { open: openInProcessGateway }));
}

/** The command and its arguments; a bare flag list (`sluice --port 9000`) means `serve`. */
function commandOf(args: string[]): { name: string; rest: string[] } {
  const [first, ...rest] = args;
  if (first === undefined || (first.startsWith('-') && !HELP_FLAGS.has(first) && !VERSION_FLAGS.has(first)))
    return { name: 'serve', rest: args };
  return { name: first, rest };
}

async function main(args: string[]): Promise<void> {
  const { name, rest } = commandOf(args);
  if (HELP_FLAGS.has(name) || name === 'help') {
    const topic = rest[0] === undefined ? undefined : COMMANDS[rest[0]];
    console.log(topic ? await topic.usage() : USAGE);
    return;
  }
  if (VERSION_FLAGS.has(name) || name === 'version') {
    console.log(`sluice ${version()}`);
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`sluice: unknown command '${name}'\nrun 'sluice --help' for the commands`);
    process.exit(2);
  }
  if (rest.some((arg) => HELP_FLAGS.has(arg))) {
    console.log(await command.usage());
    return;
  }
  try {
    await command.run(rest);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(1);
    }
    const known = userError(e, name, name === 'serve');
    if (known === undefined) throw e;
    console.error(known.message);
    process.exit(known.exitCode);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
