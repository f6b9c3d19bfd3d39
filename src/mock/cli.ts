import { parseArgs } from 'node:util';
import { UsageError } from '../cli-errors.js';
import { startMockUpstream } from './server.js';

export const MOCK_UPSTREAM_USAGE = `Usage: sluice mock-upstream [options]
  --port N              listen port (default 7879; 0 = ephemeral)
  --host H              listen address (default 127.0.0.1)
  --latency-ms N        time to first byte (default 0)
  --token-delay-ms N    delay per streamed token (default 0)
  --rate-429 F          fraction of requests answered 429 (0..1)
  --rate-500 F          fraction answered 500
  --rate-slow F         fraction delayed by --slow-ms
  --rate-drop F         fraction whose connection is dropped
  --slow-ms N           delay of a slow fault (default 2000)
  --retry-after S       retry-after seconds on 429s (default 1)
  --seed N              seed of the fault draws (default 1)
  --api-key KEY         require this key (Authorization: Bearer or x-api-key)
  -h, --help            this help`;

function number(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} expects a number, got "${raw}"`);
  return n;
}

/** `sluice mock-upstream`: prints the URL, serves until SIGINT/SIGTERM, then closes. */
export async function mockUpstreamCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'latency-ms': { type: 'string' },
      'token-delay-ms': { type: 'string' },
      'rate-429': { type: 'string' },
      'rate-500': { type: 'string' },
      'rate-slow': { type: 'string' },
      'rate-drop': { type: 'string' },
      'slow-ms': { type: 'string' },
      'retry-after': { type: 'string' },
      seed: { type: 'string' },
      'api-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(MOCK_UPSTREAM_USAGE);
    return;
  }
  const mock = await startMockUpstream({
    port: number('port', values.port) ?? 7879,
    host: values.host,
    latencyMs: number('latency-ms', values['latency-ms']),
    tokenDelayMs: number('token-delay-ms', values['token-delay-ms']),
    faults: {
      rate429: number('rate-429', values['rate-429']),
      rate500: number('rate-500', values['rate-500']),
      rateSlow: number('rate-slow', values['rate-slow']),
      rateDrop: number('rate-drop', values['rate-drop']),
      slowMs: number('slow-ms', values['slow-ms']),
      retryAfterSeconds: number('retry-after', values['retry-after']),
    },
    seed: number('seed', values.seed),
    apiKey: values['api-key'],
  });
  // The bare URL alone on stdout, so scripts can read it; the hint goes to stderr.
  console.log(mock.url);
  console.error(
    `mock upstream serving; OpenAI base URL ${mock.url}/v1, Anthropic base URL ${mock.url}. Ctrl-C stops.`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await mock.close();
}
