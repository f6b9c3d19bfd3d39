/**
 * Deterministic arguments for a tool call (or a JSON-schema response) that satisfy simple
 * JSON schemas: required properties get values of the right type, enums and bounds are
 * respected. Complex schemas (allOf, patterns, $ref) get a best effort, not a guarantee.
 */

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

const MAX_DEPTH = 4;
const FALLBACK_WORDS = ['example', 'sample', 'value', 'default'];
const MAX_WORD_CHARS = 64;

/** Words of the question worth quoting as string arguments, last first ("weather in Paris" → Paris). */
export function candidateWords(question: string): string[] {
  const words = question.match(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? [];
  // A word is quoted whole into arguments; an unbroken 100k-character run is cut, not echoed.
  const long = words
    .filter((w) => w.length >= 3)
    .map((w) => (w.length > MAX_WORD_CHARS ? cutWord(w) : w))
    .reverse();
  return long.length > 0 ? long : FALLBACK_WORDS;
}

/** The first MAX_WORD_CHARS characters, without splitting a surrogate pair. */
function cutWord(word: string): string {
  const last = word.charCodeAt(MAX_WORD_CHARS - 1);
  return word.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_WORD_CHARS - 1 : MAX_WORD_CHARS);
}

class ArgumentMaker {
  #strings = 0;
  constructor(
    private readonly words: string[],
    private readonly seed: number,
  ) {}

  value(schema: unknown, depth: number): unknown {
    if (!isRecord(schema)) return this.#string();
    if ('const' in schema) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length > 0)
      return schema.enum[this.seed % schema.enum.length];
    for (const key of ['anyOf', 'oneOf'] as const) {
      const options = schema[key];
      if (Array.isArray(options) && options.length > 0) return this.value(options[0], depth);
    }
    const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
    switch (type) {
      case 'integer':
      case 'number':
        return this.#number(schema, type === 'integer');
      case 'boolean':
        return true;
      case 'null':
        return null;
      case 'array': {
        if (depth >= MAX_DEPTH) return [];
        const count = Math.max(1, typeof schema.minItems === 'number' ? schema.minItems : 1);
        return Array.from({ length: count }, () => this.value(schema.items, depth + 1));
      }
      case 'object':
        return this.object(schema, depth);
      default:
        if (isRecord(schema.properties)) return this.object(schema, depth);
        return this.#string(schema.format);
    }
  }

  object(schema: Json, depth: number): Json {
    const out: Json = {};
    if (depth >= MAX_DEPTH || !isRecord(schema.properties)) return out;
    const properties = schema.properties;
    // Fill the required properties; with no `required` list, fill them all (as OpenAI's
    // strict mode would require).
    const names =
      Array.isArray(schema.required) && schema.required.length > 0
        ? schema.required.filter((n): n is string => typeof n === 'string')
        : Object.keys(properties);
    for (const name of names) out[name] = this.value(properties[name], depth + 1);
    return out;
  }

  #number(schema: Json, integer: boolean): number {
    const min = typeof schema.minimum === 'number' ? schema.minimum : 1;
    const max = typeof schema.maximum === 'number' ? schema.maximum : min + 99;
    const span = Math.max(0, max - min);
    const raw = min + (span === 0 ? 0 : (this.seed % 1000) / 1000) * span;
    return integer ? Math.min(max, Math.ceil(raw)) : Math.round(raw * 100) / 100;
  }

  #string(format?: unknown): string {
    switch (format) {
      case 'date':
        return '2025-01-15';
      case 'date-time':
        return '2025-01-15T09:30:00Z';
      case 'email':
        return 'user@example.com';
      case 'uri':
      case 'url':
        return 'https://example.com/';
      case 'uuid':
        return '00000000-0000-4000-8000-000000000000';
    }
    return this.words[this.#strings++ % this.words.length];
  }
}

/** Arguments for a tool whose parameters are `schema`, drawn from the words of `question`. */
export function argumentsFor(schema: unknown, question: string, seed: number): Json {
  const maker = new ArgumentMaker(candidateWords(question), seed);
  return isRecord(schema) ? maker.object(schema, 0) : {};
}

/** A value satisfying `schema` (for `response_format: json_schema`). */
export function valueFor(schema: unknown, question: string, seed: number): unknown {
  return new ArgumentMaker(candidateWords(question), seed).value(schema, 0);
}
