import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from './config/index.js';
import { SluiceError } from './errors.js';
import { compose } from './pipeline/compose.js';
import { createContext } from './pipeline/context.js';
import type { Dialect, Reply, RequestContext, RouteName, Stage } from './pipeline/types.js';
import { UpstreamRouter } from './route/upstreams.js';
import type { Logger } from './observe/log.js';
import { UpstreamPools } from './upstream/pool.js';
import { upstreamStage, type UsageReader } from './upstream/stage.js';
import { basicUsageReader } from './upstream/usage-basic.js';

export interface GatewayOptions {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface InProcessRequest {
  dialect: Dialect;
  route: RouteName;
  body: Record<string, unknown>;
  headers?: IncomingHttpHeaders;
  signal?: AbortSignal;
}

/**
 * The gateway without HTTP: config → upstream pools → one composed pipeline. The HTTP server
 * and in-process callers (library use, batch jobs, the summariser) all enter through `handle`.
 */
export class Gateway {
  readonly config: Config;
  readonly log: Logger;
  readonly router: UpstreamRouter;
  readonly pools: UpstreamPools;
  readonly #pipeline: (ctx: RequestContext) => Promise<Reply>;
  readonly #closers: Array<() => Promise<void>> = [];

  constructor(opts: GatewayOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.router = new UpstreamRouter(opts.config);
    this.pools = new UpstreamPools(opts.config, opts.env);
    this.#closers.push(() => this.pools.close());
    const usage: UsageReader = basicUsageReader;
    const stages: Stage[] = [
      upstreamStage({
        router: this.router,
        pools: this.pools,
        usage,
        onAttemptFailed: (ctx, info) => this.log.warn({ reqId: ctx.id, ...info }, 'upstream attempt failed'),
      }),
    ];
    this.#pipeline = compose(stages);
  }

  /** Run a prepared context through the pipeline. */
  handle(ctx: RequestContext): Promise<Reply> {
    return this.#pipeline(ctx);
  }

  /** Library entry: validate nothing, build a context and run it (callers pass well-formed bodies). */
  request(req: InProcessRequest): { ctx: RequestContext; reply: Promise<Reply> } {
    const ctx = createContext({
      dialect: req.dialect,
      route: req.route,
      headers: req.headers ?? {},
      body: req.body,
      signal: req.signal ?? new AbortController().signal,
      timeoutMs: this.config.requestTimeoutMs,
    });
    return { ctx, reply: this.handle(ctx) };
  }

  async close(): Promise<void> {
    for (const close of this.#closers.reverse()) {
      try {
        await close();
      } catch (e) {
        this.log.warn({ err: e }, 'error while closing');
      }
    }
  }
}

export { SluiceError };
