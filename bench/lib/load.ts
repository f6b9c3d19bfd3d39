import autocannon from 'autocannon';
import { type LatencySummary, Samples } from './stats.js';
import { processCpuMs } from './machine.js';
import type { HttpRequestSpec } from './targets.js';

export interface LoadOptions {
  connections: number;
  durationS: number;
  /** Discarded run before measuring: fills connection pools, JIT-compiles hot paths. */
  warmupS: number;
  /**
   * The process whose CPU time per reply is reported (the proxy under test): CPU time is
   * steadier than req/s on a shared machine, since it does not count time the process waited.
   */
  cpuPid?: number;
}

export interface LoadResult {
  connections: number;
  durationS: number;
  /** 2xx responses per second. */
  rps: number;
  responses: number;
  latency: LatencySummary;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** CPU time (user + system) of `cpuPid` per 2xx reply during the measured run, in µs. */
  cpuUsPerReply?: number;
}

/** A bounded autocannon run (keep-alive, no pipelining) with sub-millisecond latency samples. */
export async function runLoad(spec: HttpRequestSpec, opts: LoadOptions): Promise<LoadResult> {
  if (opts.warmupS > 0) await cannon(spec, opts.connections, opts.warmupS, undefined);
  const samples = new Samples();
  const cpuBefore = opts.cpuPid === undefined ? undefined : processCpuMs(opts.cpuPid);
  const result = await cannon(spec, opts.connections, opts.durationS, samples);
  const cpuAfter = opts.cpuPid === undefined ? undefined : processCpuMs(opts.cpuPid);
  const ok = samples.count;
  return {
    connections: opts.connections,
    durationS: result.duration,
    rps: ok / result.duration,
    responses: ok,
    latency: samples.summary(),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    ...(cpuBefore !== undefined && cpuAfter !== undefined && ok > 0
      ? { cpuUsPerReply: ((cpuAfter - cpuBefore) * 1000) / ok }
      : {}),
  };
}

function cannon(
  spec: HttpRequestSpec,
  connections: number,
  durationS: number,
  samples: Samples | undefined,
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        method: spec.method,
        headers: spec.headers,
        body: spec.body,
        requests: spec.nextBody ? [{ setupRequest: withBody(spec.nextBody) }] : undefined,
        connections,
        pipelining: 1,
        duration: durationS,
        timeout: 10,
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    // autocannon's own histogram rounds to whole milliseconds; gateway overhead is sub-millisecond.
    if (samples) {
      instance.on('response', (_client, status, _bytes, ms) => {
        if (status >= 200 && status < 300) samples.add(ms);
      });
    }
  });
}

/** autocannon calls this before each request: a fresh body each time. */
function withBody(next: () => string): (req: autocannon.Request) => autocannon.Request {
  return (req) => {
    req.body = next();
    return req;
  };
}
