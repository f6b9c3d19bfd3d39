import { Agent, request } from 'node:http';
import { type LatencySummary, Samples } from './stats.js';
import type { HttpRequestSpec } from './targets.js';

export interface TtfbOptions {
  requests: number;
  warmup: number;
}

export interface TtfbResult {
  requests: number;
  /** Request sent → response headers. */
  headers: LatencySummary;
  /** Request sent → first body byte (the first SSE event): the number that matters to a user. */
  firstByte: LatencySummary;
  /** Request sent → end of stream. */
  total: LatencySummary;
}

/**
 * Time to first byte of streamed replies: sequential requests (concurrency 1) on one
 * keep-alive connection, timed with the monotonic clock. autocannon does not report it.
 */
export async function measureTtfb(spec: HttpRequestSpec, opts: TtfbOptions): Promise<TtfbResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < opts.warmup; i++) await once(spec, agent);
    const headers = new Samples();
    const firstByte = new Samples();
    const total = new Samples();
    for (let i = 0; i < opts.requests; i++) {
      const t = await once(spec, agent);
      headers.add(t.headers);
      firstByte.add(t.firstByte);
      total.add(t.total);
    }
    return {
      requests: opts.requests,
      headers: headers.summary(),
      firstByte: firstByte.summary(),
      total: total.summary(),
    };
  } finally {
    agent.destroy();
  }
}

interface Timing {
  headers: number;
  firstByte: number;
  total: number;
}

function once(spec: HttpRequestSpec, agent: Agent): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const since = () => Number(process.hrtime.bigint() - start) / 1e6;
    const req = request(
      spec.url,
      { method: spec.method, headers: spec.headers, agent, timeout: 10_000 },
      (res) => {
        const headers = since();
        let firstByte = -1;
        let first = '';
        res.on('data', (chunk: Buffer) => {
          if (firstByte < 0) {
            firstByte = since();
            first = chunk.toString('utf8', 0, 64);
          }
        });
        res.once('end', () => {
          const total = since();
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode} from ${spec.url}`));
          if (!first.includes('data:'))
            return reject(new Error(`the first chunk holds no SSE event: ${first}`));
          resolve({ headers, firstByte, total });
        });
        res.once('error', reject);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no reply from ${spec.url} in 10 s`)));
    req.once('error', reject);
    req.end(spec.body);
  });
}
