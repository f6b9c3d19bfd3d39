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
  /** Chunks fed to any parser (tests check a stream's bytes are parsed once). */
  static chunksParsed = 0;
  #decoder = new TextDecoder();
  #buffer = '';

  feed(chunk: Uint8Array): SseEvent[] {
    return events(this.feedBlocks(chunk));
  }

  /** Flush a final event that lacked its blank line (a stream closed without one). */
  end(): SseEvent[] {
    return events(this.endBlocks());
  }

  /**
   * The blocks a chunk completes, each with its text as it came (the blank line included) and
   * its event when it has data (comment-only blocks have none).
   */
  feedBlocks(chunk: Uint8Array): SseBlock[] {
    SseParser.chunksParsed++;
    this.#buffer += this.#decoder.decode(chunk, { stream: true });
    return this.#drain();
  }

  endBlocks(): SseBlock[] {
    this.#buffer += this.#decoder.decode();
    if (this.#buffer.trim() === '') {
      this.#buffer = '';
      return [];
    }
    this.#buffer += '\n\n';
    const blocks = this.#drain();
    this.#buffer = '';
    return blocks;
  }

  /** No unfinished event is held: everything fed so far ended on an event boundary. */
  get atBoundary(): boolean {
    return this.#buffer === '';
  }

  /**
   * Cut the buffer into blocks at blank lines. Line ends may be CRLF, LF or CR (the spec's
   * three); a block's text keeps the bytes as they came, so a filtered stream changes nothing
   * but the events it drops. A CR at the very end waits for the next chunk (it may be half a CRLF).
   */
  #drain(): SseBlock[] {
    return this.#buffer.includes('\r') ? this.#drainAnyLineEnds() : this.#drainLf();
  }

  /**
   * The common case (every provider ends lines with LF): blocks end at `\n\n`, found with
   * indexOf, and a block of one `data: …` line takes two slices and no line array.
   */
  #drainLf(): SseBlock[] {
    const buf = this.#buffer;
    const blocks: SseBlock[] = [];
    let blockStart = 0;
    for (;;) {
      if (buf.charCodeAt(blockStart) === LF) {
        // An empty line where a block would start: a block of its own, with no event.
        blocks.push({ text: '\n', event: undefined });
        blockStart += 1;
        continue;
      }
      const end = buf.indexOf('\n\n', blockStart);
      if (end === -1) break;
      const next = end + 2;
      blocks.push({ text: buf.slice(blockStart, next), event: lfBlockEvent(buf, blockStart, end) });
      blockStart = next;
    }
    this.#buffer = blockStart === 0 ? buf : buf.slice(blockStart);
    return blocks;
  }

  #drainAnyLineEnds(): SseBlock[] {
    const buf = this.#buffer;
    const blocks: SseBlock[] = [];
    let blockStart = 0;
    let lineStart = 0;
    let lines: string[] = [];
    LINE_END.lastIndex = 0;
    for (let m = LINE_END.exec(buf); m !== null; m = LINE_END.exec(buf)) {
      if (m[0] === '\r' && m.index === buf.length - 1) break;
      const line = buf.slice(lineStart, m.index);
      lineStart = m.index + m[0].length;
      if (line !== '') {
        lines.push(line);
        continue;
      }
      blocks.push({ text: buf.slice(blockStart, lineStart), event: parseLines(lines) });
      lines = [];
      blockStart = lineStart;
    }
    this.#buffer = buf.slice(blockStart);
    return blocks;
  }
}

const LF = 10;
const DATA_PREFIX = 'data: ';
const EVENT_PREFIX = 'event: ';
const EVENT_DATA_PREFIX = '\ndata: ';

/**
 * The event of the LF-separated lines in `buf[start, end)`. The two shapes providers send
 * (`data: …`, OpenAI; `event: name` then `data: …`, Anthropic) take slices, no line array.
 */
function lfBlockEvent(buf: string, start: number, end: number): SseEvent | undefined {
  if (buf.startsWith(DATA_PREFIX, start)) {
    const lineEnd = buf.indexOf('\n', start);
    if (lineEnd === -1 || lineEnd >= end) return new LazyEvent(buf.slice(start + DATA_PREFIX.length, end));
  } else if (buf.startsWith(EVENT_PREFIX, start)) {
    const nameEnd = buf.indexOf('\n', start);
    const dataStart = nameEnd + EVENT_DATA_PREFIX.length;
    // A name line then a single data line: no further line end before the block's.
    if (
      dataStart <= end &&
      buf.startsWith(EVENT_DATA_PREFIX, nameEnd) &&
      buf.indexOf('\n', dataStart) >= end
    ) {
      return new LazyEvent(buf.slice(dataStart, end), buf.slice(start + EVENT_PREFIX.length, nameEnd));
    }
  }
  return parseLines(buf.slice(start, end).split('\n'));
}

const LINE_END = /\r\n|\n|\r/g;

/** One block of an SSE stream: its text and, when it carries data, its event. */
export interface SseBlock {
  text: string;
  event: SseEvent | undefined;
}

function events(blocks: SseBlock[]): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of blocks) if (block.event) out.push(block.event);
  return out;
}

function parseLines(lines: readonly string[]): SseEvent | undefined {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of lines) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
  }
  if (data === undefined) return undefined;
  return new LazyEvent(data, event);
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

  /** The parser makes its events lazy from the start, so readers share their one parse. */
  constructor(data: string, event?: string) {
    if (event !== undefined) this.event = event;
    this.data = data;
  }

  static from(event: SseEvent): LazyEvent {
    return event instanceof LazyEvent ? event : new LazyEvent(event.data, event.event);
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
