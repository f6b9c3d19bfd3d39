import type { Dialect, RouteName, Usage } from '../pipeline/types.js';

/**
 * A stored answer: the complete non-streaming response body in the route's dialect (an
 * OpenAI chat.completion / embeddings list, an Anthropic Message), whether it came from a
 * JSON reply or was rebuilt from a stream, plus what the cache needs to know about it.
 */
export interface CachedEntry {
  dialect: Dialect;
  route: RouteName;
  /** Model that answered (sent upstream). */
  model: string;
  /** Epoch ms of the write. */
  createdAt: number;
  /** TTL the entry was written with; hits renew it by this much. */
  ttlSeconds: number;
  /** What the original call consumed (tokens a hit avoids); absent if the provider did not say. */
  usage?: Usage;
  /** Whether the original answer was streamed (informational). */
  streamed: boolean;
  /** The response JSON bytes, served as they are on a non-streaming hit. */
  body: Uint8Array;
}

interface Header {
  d: Dialect;
  r: RouteName;
  m: string;
  c: number;
  t: number;
  u?: Usage;
  s: boolean;
}

/**
 * Layout: 'S', version 1, header length (u32 big-endian), header JSON, body bytes. The body
 * is never parsed to answer a same-mode hit; only the small header is.
 */
const MAGIC = 0x53;
const VERSION = 1;
const PREFIX = 6;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeEntry(entry: CachedEntry): Uint8Array {
  const header: Header = {
    d: entry.dialect,
    r: entry.route,
    m: entry.model,
    c: entry.createdAt,
    t: entry.ttlSeconds,
    s: entry.streamed,
  };
  if (entry.usage) header.u = entry.usage;
  const head = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(PREFIX + head.byteLength + entry.body.byteLength);
  out[0] = MAGIC;
  out[1] = VERSION;
  new DataView(out.buffer).setUint32(2, head.byteLength);
  out.set(head, PREFIX);
  out.set(entry.body, PREFIX + head.byteLength);
  return out;
}

/**
 * Decoded entries by their bytes: the memory front returns the same array on every hit, so a
 * hot entry's header is parsed once. Weak, so it never outlives the stored bytes.
 */
const decoded = new WeakMap<Uint8Array, CachedEntry>();

/** Undefined for bytes this version did not write (an old layout is a miss, not a crash). */
export function decodeEntry(bytes: Uint8Array): CachedEntry | undefined {
  const known = decoded.get(bytes);
  if (known) return known;
  const entry = parseEntry(bytes);
  if (entry) decoded.set(bytes, entry);
  return entry;
}

function parseEntry(bytes: Uint8Array): CachedEntry | undefined {
  if (bytes.byteLength < PREFIX || bytes[0] !== MAGIC || bytes[1] !== VERSION) return undefined;
  const headLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2);
  const bodyStart = PREFIX + headLength;
  if (bodyStart > bytes.byteLength) return undefined;
  let header: Header;
  try {
    header = JSON.parse(decoder.decode(bytes.subarray(PREFIX, bodyStart))) as Header;
  } catch {
    return undefined;
  }
  return {
    dialect: header.d,
    route: header.r,
    model: header.m,
    createdAt: header.c,
    ttlSeconds: header.t,
    usage: header.u,
    streamed: header.s,
    body: bytes.subarray(bodyStart),
  };
}
