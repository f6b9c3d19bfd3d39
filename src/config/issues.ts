/**
 * Turns zod's validation issues into lines a person can act on. Unknown keys get the nearest
 * valid key at the same place (`cache.ttl` is not a setting; did you mean `cache.ttlSeconds`?),
 * found by walking the config's JSON schema along the issue's path.
 */
import { z } from 'zod';
import { configSchema } from './index.js';

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
};

let rootSchema: JsonSchema | undefined;
const schemaRoot = (): JsonSchema => {
  rootSchema ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rootSchema;
};

export function formatConfigIssues(error: z.ZodError): string {
  return error.issues.flatMap(describeIssue).join('\n');
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code !== 'unrecognized_keys') return [`  ${pathText(issue.path) || '(root)'}: ${issue.message}`];
  const valid = Object.keys(schemaAt(issue.path)?.properties ?? {});
  return issue.keys.map((key) => {
    const where = pathText([...issue.path, key]);
    const suggestion = nearestKey(key, valid);
    if (suggestion !== undefined)
      return `  \`${where}\` is not a setting; did you mean \`${pathText([...issue.path, suggestion])}\`?`;
    const scope = issue.path.length === 0 ? 'at the top level' : `under \`${pathText(issue.path)}\``;
    return `  \`${where}\` is not a setting; valid keys ${scope}: ${valid.join(', ')}`;
  });
}

function pathText(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (acc, part) =>
      typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part),
    '',
  );
}

/** The schema node an issue's path points at; map keys and array indexes descend into the value type. */
function schemaAt(path: ReadonlyArray<PropertyKey>): JsonSchema | undefined {
  let node: JsonSchema | undefined = schemaRoot();
  for (const part of path) {
    if (!node) return undefined;
    if (typeof part === 'number') node = node.items;
    else {
      const additional: JsonSchema | undefined =
        typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
      node = node.properties?.[String(part)] ?? additional;
    }
  }
  return node;
}

/**
 * The valid key the user most likely meant, if any is close: same letters ignoring case and
 * `_`/`-` (snake_case for camelCase), one a prefix of the other (`ttl` → `ttlSeconds`), or a
 * small edit distance (`maxConcurency`).
 */
export function nearestKey(typed: string, valid: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const t = norm(typed);
  let best: { key: string; rank: number; distance: number } | undefined;
  for (const key of valid) {
    const k = norm(key);
    const distance = editDistance(t, k);
    const isPrefix = t.length >= 3 && (k.startsWith(t) || t.startsWith(k));
    const rank = k === t ? 0 : isPrefix ? 1 : 2;
    if (rank === 2 && distance > Math.max(1, Math.floor(t.length / 3))) continue;
    if (!best || rank < best.rank || (rank === best.rank && distance < best.distance))
      best = { key, rank, distance };
  }
  return best?.key;
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
