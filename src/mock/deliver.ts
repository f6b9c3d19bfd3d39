import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** An SSE body: what precedes the first token, one entry per token step, what follows the last. */
export interface StreamBody {
  head: string;
  steps: string[];
  tail: string;
}

export interface Timing {
  /** Wait before the first byte. */
  latencyMs: number;
  /** Wait between token steps (and, for JSON replies, per token before answering). */
  tokenDelayMs: number;
}

const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Tells nginx-like proxies not to buffer the stream.
  'x-accel-buffering': 'no',
};

/** Token steps sent before `drop-mid-stream` cuts the connection. */
const STEPS_BEFORE_DROP = 3;

/**
 * Runs a response's timers and stops them when the client goes away, so an aborted request
 * leaves nothing scheduled.
 */
class Timeline {
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(res: ServerResponse) {
    res.once('close', () => {
      this.#closed = true;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
    });
  }

  after(ms: number, fn: () => void): void {
    if (this.#closed) return;
    if (ms <= 0) {
      fn();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) fn();
    }, ms);
  }
}

/** Answer now with a JSON body (errors, models, anything without pacing). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: string,
  extra?: Record<string, string>,
): void {
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (extra !== undefined) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

/** Destroy the connection once `data` has reached the socket: a provider dying mid-answer. */
function writeThenDrop(res: ServerResponse, data: string | Uint8Array): void {
  res.write(data, () => res.socket?.destroy());
}

/**
 * A JSON reply that takes as long as generating `tokens` would: latency, plus the token
 * delay per token. `dropMidBody` sends half the body, then cuts the connection.
 */
export function deliverJson(
  res: ServerResponse,
  body: string,
  tokens: number,
  timing: Timing,
  dropMidBody: boolean,
  done: () => void,
): void {
  const wait = timing.latencyMs + timing.tokenDelayMs * tokens;
  const answer = () => {
    if (!dropMidBody) {
      sendJson(res, 200, body);
      done();
      return;
    }
    const bytes = Buffer.from(body);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
    writeThenDrop(res, bytes.subarray(0, bytes.length >> 1));
  };
  if (wait <= 0) {
    answer();
    return;
  }
  new Timeline(res).after(wait, answer);
}

/** An SSE reply: latency, then the head and the first step, then one step per token delay. */
export function deliverStream(
  res: ServerResponse,
  body: StreamBody,
  timing: Timing,
  dropMidStream: boolean,
  done: () => void,
): void {
  const { head, steps, tail } = body;
  if (timing.latencyMs <= 0 && timing.tokenDelayMs <= 0 && !dropMidStream) {
    // The benchmark path: one write, no timers.
    res.writeHead(200, SSE_HEADERS);
    res.end(head + steps.join('') + tail);
    done();
    return;
  }
  const timeline = new Timeline(res);
  const dropAfter = dropMidStream ? Math.min(STEPS_BEFORE_DROP, Math.max(1, steps.length - 1)) : -1;
  timeline.after(timing.latencyMs, () => {
    res.writeHead(200, SSE_HEADERS);
    if (timing.tokenDelayMs <= 0) {
      if (dropAfter >= 0) {
        writeThenDrop(res, head + steps.slice(0, dropAfter).join(''));
        return;
      }
      res.end(head + steps.join('') + tail);
      done();
      return;
    }
    let next = 0;
    let pending = head;
    const step = () => {
      if (next === steps.length) {
        res.end(pending + tail);
        done();
        return;
      }
      const chunk = pending + steps[next];
      pending = '';
      next++;
      if (next === dropAfter) {
        writeThenDrop(res, chunk);
        return;
      }
      res.write(chunk);
      timeline.after(timing.tokenDelayMs, step);
    };
    step();
  });
}
