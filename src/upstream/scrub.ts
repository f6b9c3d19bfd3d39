/**
 * Keeps the operator's provider keys out of everything the gateway passes back: an upstream
 * (or a proxy in front of it) may echo the credential it was sent in an error message, a
 * header or a model name. Matching is on the raw key bytes; keys shorter than
 * MIN_SECRET_LENGTH are ignored, as the logger ignores them, so a toy key cannot mangle replies.
 */
const MIN_SECRET_LENGTH = 8;
export const REDACTED = '[redacted]';
const REDACTED_BYTES = Buffer.from(REDACTED);

export class SecretScrubber {
  readonly #texts: string[];
  readonly #bytes: Buffer[];
  /** Bytes that occur in some key: a buffer ending in any other byte cannot end in a key's start. */
  readonly #keyBytes = new Uint8Array(256);

  constructor(secrets: readonly string[]) {
    // Longest first, so a key that contains another is replaced whole.
    this.#texts = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))].sort(
      (a, b) => b.length - a.length,
    );
    this.#bytes = this.#texts.map((s) => Buffer.from(s));
    for (const key of this.#bytes) for (const b of key) this.#keyBytes[b] = 1;
  }

  /** False when no key is configured: callers may skip scrubbing entirely. */
  get active(): boolean {
    return this.#texts.length > 0;
  }

  contains(text: string): boolean {
    return this.#texts.some((s) => text.includes(s));
  }

  text(text: string): string {
    let out = text;
    for (const s of this.#texts) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }

  /** The same bytes (no copy) unless a key occurs in them. */
  bytes(data: Uint8Array): Uint8Array {
    if (!this.active) return data;
    let buf = asBuffer(data);
    for (const secret of this.#bytes) {
      let at = buf.indexOf(secret);
      if (at === -1) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at !== -1) {
        parts.push(buf.subarray(from, at), REDACTED_BYTES);
        from = at + secret.byteLength;
        at = buf.indexOf(secret, from);
      }
      parts.push(buf.subarray(from));
      buf = Buffer.concat(parts);
    }
    return buf;
  }

  /** Header values scrubbed; a header whose name holds a key is dropped. */
  headers(headers: Record<string, string>): Record<string, string> {
    if (!this.active) return headers;
    const out: Record<string, string> = {};
    for (const name in headers) {
      if (this.contains(name)) continue;
      out[name] = this.text(headers[name]);
    }
    return out;
  }

  /**
   * A scrubber for one stream, where a key may be split across chunks. Only a chunk that ends
   * in the first bytes of a key is held back (until the next chunk shows whether the key
   * follows); SSE chunks end in a blank line, so in practice nothing is delayed.
   */
  stream(): StreamScrubber {
    return new StreamScrubber(this);
  }

  /** Length of the longest tail of `buf` that is the start of some key. */
  heldTailLength(buf: Buffer): number {
    if (buf.byteLength === 0 || this.#keyBytes[buf[buf.byteLength - 1]] === 0) return 0;
    let longest = 0;
    for (const secret of this.#bytes) {
      const window = Math.min(secret.byteLength - 1, buf.byteLength);
      let at = buf.indexOf(secret[0], buf.byteLength - window);
      while (at !== -1) {
        const tail = buf.byteLength - at;
        if (tail <= longest) break;
        if (buf.compare(secret, 0, tail, at) === 0) {
          longest = tail;
          break;
        }
        at = buf.indexOf(secret[0], at + 1);
      }
    }
    return longest;
  }
}

export class StreamScrubber {
  readonly #scrubber: SecretScrubber;
  #held: Buffer | undefined;

  constructor(scrubber: SecretScrubber) {
    this.#scrubber = scrubber;
  }

  /** The part of `chunk` (after any held bytes) that is safe to send now; may be empty. */
  push(chunk: Uint8Array): Uint8Array {
    if (!this.#scrubber.active) return chunk;
    const joined = this.#held ? Buffer.concat([this.#held, asBuffer(chunk)]) : asBuffer(chunk);
    const clean = asBuffer(this.#scrubber.bytes(joined));
    const hold = this.#scrubber.heldTailLength(clean);
    this.#held = hold > 0 ? clean.subarray(clean.byteLength - hold) : undefined;
    return hold > 0 ? clean.subarray(0, clean.byteLength - hold) : clean;
  }

  /** Bytes still held at the end of the stream: they were not the start of a key after all. */
  flush(): Uint8Array | undefined {
    const rest = this.#held;
    this.#held = undefined;
    return rest;
  }
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
