import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/JSON carries it, attributes flattened to plain values. */
export interface CapturedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  status?: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

export interface CapturedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A local HTTP server standing in for an OTLP/HTTP collector (or Langfuse): records every
 * request, answers as a collector does, and decodes OTLP/JSON span exports.
 */
export class OtlpCapture {
  readonly requests: CapturedRequest[] = [];
  readonly #server: Server;
  url = '';

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(
    answer?: (req: CapturedRequest) => { status: number; body: unknown },
  ): Promise<OtlpCapture> {
    let capture: OtlpCapture | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const captured = {
          path: req.url ?? '/',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        capture?.requests.push(captured);
        const reply = answer?.(captured) ?? { status: 200, body: {} };
        const text = JSON.stringify(reply.body);
        res.writeHead(reply.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      });
    });
    capture = new OtlpCapture(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    capture.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return capture;
  }

  /** Every span received on `path` (OTLP/JSON bodies). */
  spans(path = '/v1/traces'): CapturedSpan[] {
    const out: CapturedSpan[] = [];
    for (const req of this.requests) {
      if (req.path !== path) continue;
      const body = JSON.parse(req.body) as OtlpJson;
      for (const rs of body.resourceSpans ?? []) {
        const resource = flatten(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const span of ss.spans ?? []) {
            out.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              kind: span.kind,
              status: span.status,
              attributes: flatten(span.attributes),
              resource,
            });
          }
        }
      }
    }
    return out;
  }

  /**
   * Spans on `path` once `ready` holds for them, flushing the exporter between looks: a stream's
   * root span ends when the gateway's own loop sees the stream end, which can be just after
   * the client has read the last byte.
   */
  async spansWhen(
    ready: (spans: CapturedSpan[]) => boolean,
    flush: () => Promise<void>,
    path = '/v1/traces',
  ): Promise<CapturedSpan[]> {
    for (let i = 0; i < 100; i++) {
      await flush();
      const spans = this.spans(path);
      if (ready(spans)) return spans;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`spans on ${path} never became ready`);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpJson {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value: OtlpValue }> };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        status?: { code?: number; message?: string };
        attributes?: Array<{ key: string; value: OtlpValue }>;
      }>;
    }>;
  }>;
}

function attributeValue(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(attributeValue);
  return undefined;
}

function flatten(list: Array<{ key: string; value: OtlpValue }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, attributeValue(a.value)]));
}
