/**
 * Checks on a parsed JSON body that no schema expresses, made before anything else sees it:
 *
 * - Nesting is bounded (`MAX_JSON_DEPTH`, the body object being level 1). `JSON.parse` copes
 *   with any depth, but every recursive walk after it (`JSON.stringify` in cache keys and
 *   upstream payloads, token counting) overflows the stack somewhere past a few thousand
 *   levels. 100 leaves room for deeply nested JSON schemas in tools and response formats.
 * - No string or object key holds a lone surrogate (`"\ud800"` is valid JSON but not valid
 *   Unicode). They break `encodeURIComponent` in storage keys, and providers refuse them
 *   anyway ("no low surrogate in string"), so they are refused anywhere in the body rather
 *   than only in the fields that become identities: the request could never succeed.
 *
 * The walk is iterative (no recursion to overflow) and visits each value once: linear in the
 * body, and it stops at the first level past the bound however deep the input goes. The HTTP
 * edge also checks the depth on the raw bytes before parsing (`nestsTooDeep`).
 */
export const MAX_JSON_DEPTH = 100;

/** `String.prototype.isWellFormed` (native, fast) exists in Node 20 but not in the ES2023 lib compiled against. */
const hasLoneSurrogate = (text: string): boolean =>
  !(text as unknown as { isWellFormed(): boolean }).isWellFormed();

export type MalformedKind = 'too_deep' | 'lone_surrogate';

export interface Malformed {
  kind: MalformedKind;
  /** Path of the offending value, e.g. `['metadata', 'user_id']` or `['messages', 0, 'content']`. */
  path: Array<string | number>;
}

/** A container on the walk's stack; scalars are checked where they are met, never stacked. */
interface Frame {
  value: object;
  depth: number;
  parent: Frame | undefined;
  key: string | number | undefined;
}

/** The first problem found in `body`, or undefined when it is well-formed. */
export function findMalformed(body: unknown): Malformed | undefined {
  if (typeof body === 'string')
    return hasLoneSurrogate(body) ? { kind: 'lone_surrogate', path: [] } : undefined;
  if (typeof body !== 'object' || body === null) return undefined;
  const stack: Frame[] = [{ value: body, depth: 1, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    if (frame.depth > MAX_JSON_DEPTH) return { kind: 'too_deep', path: pathOf(frame, undefined) };
    const container = frame.value;
    if (Array.isArray(container)) {
      for (let i = container.length - 1; i >= 0; i--) {
        const problem = visit(stack, frame, i, container[i]);
        if (problem) return problem;
      }
      continue;
    }
    // Parsed JSON objects are plain: `for…in` sees exactly their own keys, without a keys array.
    for (const key in container) {
      if (hasLoneSurrogate(key)) return { kind: 'lone_surrogate', path: pathOf(frame, key) };
      const problem = visit(stack, frame, key, (container as Record<string, unknown>)[key]);
      if (problem) return problem;
    }
  }
  return undefined;
}

function visit(stack: Frame[], parent: Frame, key: string | number, value: unknown): Malformed | undefined {
  if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) return { kind: 'lone_surrogate', path: pathOf(parent, key) };
  } else if (typeof value === 'object' && value !== null) {
    stack.push({ value, depth: parent.depth + 1, parent, key });
  }
  return undefined;
}

function pathOf(frame: Frame, last: string | number | undefined): Array<string | number> {
  const path: Array<string | number> = last === undefined ? [] : [last];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) path.push(f.key);
  return path.reverse();
}

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether raw JSON text nests deeper than `MAX_JSON_DEPTH`, by one pass over its bytes. Run
 * before `JSON.parse`, which takes seconds on millions of levels (a body of `[[[[…` within
 * `maxBodyBytes`), and stops at the first byte past the bound. Malformed JSON may be counted
 * wrongly, but it is refused by the parse anyway.
 */
export function nestsTooDeep(raw: Uint8Array): boolean {
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) {
      i = closingQuote(bytes, i + 1);
      if (i === -1) return false;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--;
  }
  return false;
}

/** Index of the quote closing a string that starts at `from` (native search: text is most of a body), or -1. */
function closingQuote(bytes: Buffer, from: number): number {
  let at = bytes.indexOf(QUOTE, from);
  while (at !== -1) {
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = bytes.indexOf(QUOTE, at + 1);
  }
  return -1;
}
