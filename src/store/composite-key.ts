/**
 * Keys built from several identities (tenant, user, model, rule, period...). Joining raw
 * names with a separator is ambiguous: team `a/b` + user `c` and team `a` + user `b/c` both
 * give `a/b/c`, and one tenant reads the other's cache. Every part is escaped here so that
 * it never contains the separator `:`, which makes the mapping from part lists to keys
 * one-to-one, and a key's leading parts plus `:` a prefix matching exactly the keys that
 * start with those parts (purges by scope).
 *
 * Escaping works on UTF-16 code units, so any JS string is accepted (lone surrogates
 * included: nothing here throws) and the output is printable ASCII: it survives UTF-8
 * storage (SQLite, Redis) without lone surrogates collapsing into U+FFFD, and can go into
 * a header or a log line. Names made only of the characters below come out unchanged, so
 * counters of ordinary names keep their keys across the format change.
 */

const SEPARATOR = ':';

/** Characters kept as they are; anything else is escaped (`:` and `%` in particular). */
const UNSAFE = /[^A-Za-z0-9\-._~/@+=,]/g;
const ALL_SAFE = /^[A-Za-z0-9\-._~/@+=,]*$/;
const ENCODED_PART = /^(?:[A-Za-z0-9\-._~/@+=,]|%[0-9A-F]{2}|%u[0-9A-F]{4})*$/;
const ESCAPE = /%(?:u([0-9A-F]{4})|([0-9A-F]{2}))/g;

const escapeUnit = (unit: string): string => {
  const code = unit.charCodeAt(0);
  // `%XX` for Latin-1, `%uXXXX` for the rest: `u` is not a hex digit, so the forms never overlap.
  return code < 0x100
    ? `%${code.toString(16).toUpperCase().padStart(2, '0')}`
    : `%u${code.toString(16).toUpperCase().padStart(4, '0')}`;
};

/** One part of a composite key: printable ASCII without `:`. Numbers as their decimal text. */
export function keyPart(part: string | number): string {
  const text = typeof part === 'number' ? String(part) : part;
  return ALL_SAFE.test(text) ? text : text.replace(UNSAFE, escapeUnit);
}

/**
 * `kind:part:part...` with every piece escaped by `keyPart`. Distinct lists always give
 * distinct keys; `kind` keeps different uses of one store apart.
 */
export function compositeKey(kind: string, ...parts: ReadonlyArray<string | number>): string {
  let key = keyPart(kind);
  for (const part of parts) key += SEPARATOR + keyPart(part);
  return key;
}

/** The prefix shared by exactly the keys whose leading pieces are `kind, ...parts`. */
export function compositeKeyPrefix(kind: string, ...parts: ReadonlyArray<string | number>): string {
  return compositeKey(kind, ...parts) + SEPARATOR;
}

/** The pieces of a key made by `compositeKey` (kind first), or undefined when it is not one. */
export function decodeCompositeKey(key: string): string[] | undefined {
  const pieces = key.split(SEPARATOR);
  const decoded: string[] = [];
  for (const piece of pieces) {
    if (!ENCODED_PART.test(piece)) return undefined;
    decoded.push(
      piece.replace(ESCAPE, (_match, wide: string | undefined, narrow: string | undefined) =>
        String.fromCharCode(Number.parseInt(wide ?? narrow ?? '', 16)),
      ),
    );
  }
  return decoded;
}
