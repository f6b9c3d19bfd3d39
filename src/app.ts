import type { Server } from 'node:http';
import type { Config, UpstreamConfig } from './config/index.js';
import { upstreamSchema } from './config/schema.js';
import { Gateway } from './gateway.js';
import { startMockUpstream, type MockUpstream } from './mock/index.js';
import type { FeedbackHook } from './observe/feedback.js';
import { createLogger, type Logger } from './observe/log.js';
import { createHttpServer, listen } from './server/http.js';
import { extraRoutes } from './server/routes.js';

export interface StartOptions {
  config: Config;
  /** Serve from an in-process simulated upstream (no provider configured). */
  simulated?: boolean;
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Keep all state in memory instead of the data directory. */
  memory?: boolean;
  /** OPTIONAL HOOK: each stored `POST /v1/feedback` score (e.g. forwarded to Langfuse). */
  onFeedback?: FeedbackHook;
}

export interface RunningSluice {
  url: string;
  port: number;
  gateway: Gateway;
  server: Server;
  mock?: MockUpstream;
  close(): Promise<void>;
}

export interface OpenGateway {
  gateway: Gateway;
  mock?: MockUpstream;
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

/** Build the gateway without HTTP (library use, batch jobs), with the simulated upstream when asked. */
export async function openGateway(opts: StartOptions): Promise<OpenGateway> {
  let config = opts.config;
  let mock: MockUpstream | undefined;
  if (opts.simulated) {
    mock = await startMockUpstream({ latencyMs: 0 });
    config = { ...config, upstreams: simulatedUpstreams(mock.url) };
  }
  const env = opts.env ?? process.env;
  const secrets = config.upstreams.flatMap((u) =>
    u.apiKeyEnv && env[u.apiKeyEnv] ? [env[u.apiKeyEnv] as string] : [],
  );
  const log = opts.log ?? createLogger(config.logLevel, secrets);
  const gateway = await Gateway.create({
    config,
    log,
    env,
    memory: opts.memory,
    onFeedback: opts.onFeedback,
  });
  return {
    gateway,
    mock,
    env,
    async close() {
      await gateway.close();
      await mock?.close();
    },
  };
}

const CLOSE_GRACE_MS = 1_000;

/** Start the gateway's HTTP server (and the simulated upstream when asked). */
export async function startSluice(opts: StartOptions): Promise<RunningSluice> {
  const opened = await openGateway(opts);
  const { gateway, env } = opened;
  const server = createHttpServer(gateway, { routes: extraRoutes(gateway, env.SLUICE_ADMIN_KEY) });
  let address: { url: string; port: number };
  try {
    address = await listen(server, gateway.config.port, gateway.config.host);
  } catch (e) {
    // Port in use and the like: release storage and the simulated upstream before reporting.
    await opened.close();
    throw e;
  }
  const { url, port } = address;
  return {
    url,
    port,
    gateway,
    server,
    mock: opened.mock,
    async close() {
      // Let responses being written finish; cut connections still open after a short grace.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(cut);
      await opened.close();
    },
  };
}

/** The simulated upstream serves both dialects; `x-mock-*` headers reach it for fault injection. */
export function simulatedUpstreams(url: string): UpstreamConfig[] {
  return (['openai', 'anthropic'] as const).map((kind) =>
    upstreamSchema.parse({
      name: `simulated-${kind}`,
      kind,
      baseUrl: `${url}/v1`,
      models: ['*'],
      forwardHeaderPrefixes: ['x-mock-'],
    }),
  );
}
