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
 * body, and it stops at the first level past the bound however deep the input goes.
 */
export const MAX_JSON_DEPTH = 100;

const LONE_SURROGATE = /\p{Cs}/u;

export type MalformedKind = 'too_deep' | 'lone_surrogate';

export interface Malformed {
  kind: MalformedKind;
  /** Path of the offending value, e.g. `['metadata', 'user_id']` or `['messages', 0, 'content']`. */
  path: Array<string | number>;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  key: string | number | undefined;
}

/** The first problem found in `body`, or undefined when it is well-formed. */
export function findMalformed(body: unknown): Malformed | undefined {
  const stack: Frame[] = [{ value: body, depth: 1, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop() as Frame;
    const { value } = frame;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return { kind: 'lone_surrogate', path: pathOf(frame) };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (frame.depth > MAX_JSON_DEPTH) return { kind: 'too_deep', path: pathOf(frame) };
    const depth = frame.depth + 1;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--)
        stack.push({ value: value[i], depth, parent: frame, key: i });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      const child: Frame = { value: (value as Record<string, unknown>)[key], depth, parent: frame, key };
      if (LONE_SURROGATE.test(key)) return { kind: 'lone_surrogate', path: pathOf(child) };
      stack.push(child);
    }
  }
  return undefined;
}

function pathOf(frame: Frame): Array<string | number> {
  const path: Array<string | number> = [];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) path.push(f.key);
  return path.reverse();
}
