/**
 * `npm run bench:observe`: what observability costs. The same non-streaming load (concurrency 50
 * by default) through Sluice with observability off (no metrics, no request log, no tracing),
 * at its defaults (metrics and the request log line), and full (also traces to a local OTLP
 * collector, http/protobuf, which only drains what it gets). Rounds alternate the variants so
 * drift on a shared machine hits them alike; each variant's median round is reported.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab } from './lib/lab.js';
import { runLoad } from './lib/load.js';
import { chatRequest } from './lib/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
  },
});
const rounds = Number(values.rounds);
const durationS = Number(values.duration);
const connections = Number(values.connections);

interface Variant {
  name: string;
  config: Record<string, unknown>;
  env: Record<string, string>;
}

async function main(): Promise<void> {
  Lab.checkBuild(ROOT);
  const collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

  const variants: Variant[] = [
    {
      name: 'off',
      config: { observe: { metrics: { enabled: false }, requestLog: { enabled: false } } },
      env: {},
    },
    { name: 'default (metrics + log line)', config: {}, env: {} },
    {
      name: 'full (metrics + log line + traces)',
      config: {},
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    },
  ];
  const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // One lab (simulated upstream + Sluice process) per variant, started once.
  const labs = variants.map((variant) => {
    const saved = { ...process.env };
    Object.assign(process.env, variant.env);
    const lab = new Lab({
      root: ROOT,
      pacedTokenDelayMs: 3,
      sluiceConfig: { sluice: variant.config, 'sluice-cache': {} },
      log: () => {},
    });
    process.env = saved;
    return lab;
  });
  try {
    const specs = await Promise.all(
      labs.map((lab) => chatRequest(lab, 'sluice', { stream: false, paced: false })),
    );
    for (let round = 0; round < rounds; round++) {
      for (const [i, variant] of variants.entries()) {
        const result = await runLoad(specs[i], { connections, durationS, warmupS: 1 });
        results.get(variant.name)?.push(result.rps);
        console.log(
          `round ${round + 1} ${variant.name}: ${result.rps.toFixed(0)} req/s (errors ${result.errors}, non-2xx ${result.non2xx})`,
        );
      }
    }
  } finally {
    for (const lab of labs) await lab.close();
  }
  collector.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const off = median(results.get('off') ?? [0]);
  console.log(`\nmedian of ${rounds} rounds, c${connections}, ${durationS} s each:`);
  for (const [name, xs] of results) {
    const m = median(xs);
    console.log(
      `  ${name.padEnd(38)} ${m.toFixed(0).padStart(7)} req/s  ${((m / off) * 100).toFixed(1)} % of off`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
