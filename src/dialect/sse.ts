/** One server-sent event: `event:` name (if any) and the joined `data:` lines. */
export interface SseEvent {
  event?: string;
  data: string;
}

/**
 * Incremental SSE parser (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 * Feed it chunks as they arrive; it returns the events completed by each chunk. It keeps only
 * the unfinished tail between calls, so parsing a stream is linear in its size.
 */
export class SseParser {
  #decoder = new TextDecoder();
  #buffer = '';

  feed(chunk: Uint8Array): SseEvent[] {
    this.#buffer += this.#decoder.decode(chunk, { stream: true });
    return this.#drain();
  }

  /** Flush a final event that lacked its blank line (a stream closed without one). */
  end(): SseEvent[] {
    this.#buffer += this.#decoder.decode();
    if (this.#buffer.trim() === '') return [];
    this.#buffer += '\n\n';
    return this.#drain();
  }

  #drain(): SseEvent[] {
    const events: SseEvent[] = [];
    let buf = this.#buffer;
    if (buf.includes('\r')) buf = buf.replace(/\r\n?/g, '\n');
    let start = 0;
    for (let end = buf.indexOf('\n\n', start); end !== -1; end = buf.indexOf('\n\n', start)) {
      const ev = parseBlock(buf.slice(start, end));
      if (ev) events.push(ev);
      start = end + 2;
    }
    this.#buffer = buf.slice(start);
    return events;
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
  }
  if (data === undefined) return undefined;
  return event === undefined ? { data } : { event, data };
}

/** Encode one SSE event. */
export function formatSse(data: string, event?: string): string {
  return event === undefined ? `data: ${data}\n\n` : `event: ${event}\ndata: ${data}\n\n`;
}

/**
 * An event whose JSON payload is parsed on first use and then kept, so every reader of one
 * stream (usage meter, cache capture, usage-chunk stripping) shares a single parse.
 */
export class LazyEvent implements SseEvent {
  readonly event?: string;
  readonly data: string;
  #parsed = false;
  #json: unknown;

  constructor(event: SseEvent) {
    if (event.event !== undefined) this.event = event.event;
    this.data = event.data;
  }

  json(): unknown {
    if (!this.#parsed) {
      this.#parsed = true;
      LazyEvent.parses++;
      try {
        this.#json = JSON.parse(this.data);
      } catch {
        this.#json = undefined;
      }
    }
    return this.#json;
  }

  /** JSON.parse calls made by all events (tests check a stream is parsed once). */
  static parses = 0;
}
