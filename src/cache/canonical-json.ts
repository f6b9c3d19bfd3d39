/**
 * JSON text of a value in which no object's key order shows: two bodies that differ only in
 * the order of keys at any depth (`{"content","role"}` vs `{"role","content"}`, a tool's
 * `function` object, an Anthropic content block) give the same text, so cache keys and
 * semantic partitions do not split on it. Arrays keep their order. Otherwise it is exactly
 * `JSON.stringify` (undefined members dropped, `toJSON` honoured, non-finite numbers `null`).
 *
 * Speed matters: this runs on every cacheable request, hits included. Rather than writing JSON
 * in script (one native call per string and per key: 3-6x slower than `JSON.stringify` on
 * bodies with many small objects, such as tool schemas), `sortedCopy` rebuilds only the objects
 * whose keys are out of order, with their keys sorted, shares every subtree that is already in
 * order, and the native `JSON.stringify` writes the result once. See bench/cache-key.ts and
 * BENCHMARKS.md.
 *
 * Order of the text: keys sorted by UTF-16 code units, except that integer-like keys ("2",
 * "10") always come first in ascending numeric order, as every JS engine enumerates them. That
 * is still one order per key set, which is all a canonical form needs.
 *
 * Recursion is bounded by the edge's nesting limit (`MAX_JSON_DEPTH` = 100 in
 * src/server/well-formed.ts); `JSON.stringify` recurses the same way, so nothing deeper could
 * reach here that would not already overflow there.
 */
export function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(sortedCopy(value));
}

/** `value` with the keys of every object in sorted order; shares whatever needed no change. */
export function sortedCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return sortedCopy(toJson.call(value, ''));
  return Array.isArray(value) ? sortedArray(value) : sortedObject(value as Record<string, unknown>);
}

function sortedArray(items: unknown[]): unknown[] {
  let copy: unknown[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const sorted = typeof item === 'object' && item !== null ? sortedCopy(item) : item;
    if (copy === undefined) {
      if (sorted === item) continue;
      copy = items.slice(0, i);
    }
    copy.push(sorted);
  }
  return copy ?? items;
}

function sortedObject(record: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(record);
  const inOrder = isSorted(keys);
  if (!inOrder) sortKeys(keys);
  let copy: Record<string, unknown> | undefined = inOrder ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const member = record[key];
    const sorted = typeof member === 'object' && member !== null ? sortedCopy(member) : member;
    if (copy === undefined) {
      if (sorted === member) continue;
      copy = {};
      for (let j = 0; j < i; j++) setOwn(copy, keys[j], record[keys[j]]);
    }
    setOwn(copy, key, sorted);
  }
  return copy ?? record;
}

/** A parsed body may hold an own `__proto__` key: assigning it would set the prototype instead. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * Sorts in place by UTF-16 code units, like `Array.prototype.sort()` without a comparator, but
 * by insertion for the few keys most objects have: the generic sort converts and compares
 * through a comparator call per pair, several times slower on two or three keys.
 */
function sortKeys(keys: string[]): void {
  if (keys.length > 12) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > key) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = key;
  }
}

/** `Array.prototype.sort`'s default order (UTF-16 code units), checked without sorting. */
function isSorted(keys: string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (keys[i - 1] > keys[i]) return false;
  return true;
}
