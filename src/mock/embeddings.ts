import { BoundedMap } from './bounded-map.js';
import { checkInteger, type Json } from './chat-request.js';
import type { ErrorSpec } from './errors.js';
import { digest, seededRandom } from './random.js';
import { tokensOf } from './tokens.js';

/*
 * OpenAI embeddings: https://platform.openai.com/docs/api-reference/embeddings
 * Vectors are unit vectors in a direction drawn from a hash of the input: identical inputs
 * get identical vectors, different inputs nearly orthogonal ones. They carry no meaning, so
 * a semantic cache fed by them only ever matches exact repeats.
 */

const DEFAULT_DIMENSIONS = 1536;
const MAX_DIMENSIONS = 3072;
const MAX_INPUTS = 2048;

type Input = string | number[];

function inputs(body: Json): Input[] | undefined {
  const input = body.input;
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0 || input.length > MAX_INPUTS) return undefined;
  if (input.every((x) => typeof x === 'string')) return input as string[];
  if (input.every((x) => typeof x === 'number')) return [input as number[]];
  if (input.every((x) => Array.isArray(x) && x.every((t) => typeof t === 'number')))
    return input as number[][];
  return undefined;
}

export function validateEmbeddings(body: Json): ErrorSpec | undefined {
  if (typeof body.model !== 'string' || body.model === '') {
    return { status: 400, message: 'you must provide a model parameter', param: null, code: null };
  }
  if (body.input === undefined) {
    return {
      status: 400,
      message: "Missing required parameter: 'input'.",
      param: 'input',
      code: 'missing_required_parameter',
    };
  }
  if (inputs(body) === undefined) {
    return {
      status: 400,
      message: "Invalid 'input': expected a string, an array of strings, or arrays of token ids.",
      param: 'input',
      code: 'invalid_value',
    };
  }
  if (
    body.encoding_format !== undefined &&
    body.encoding_format !== 'float' &&
    body.encoding_format !== 'base64'
  ) {
    return {
      status: 400,
      message: "Invalid 'encoding_format': expected 'float' or 'base64'.",
      param: 'encoding_format',
      code: 'invalid_value',
    };
  }
  return checkInteger(body.dimensions, 'dimensions', 1, MAX_DIMENSIONS);
}

/** A deterministic unit vector for `text`. */
export function embeddingVector(text: string, dimensions: number): Float32Array {
  const rand = seededRandom(digest(`${dimensions}|${text}`).seed);
  const v = new Float32Array(dimensions);
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    const x = rand() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < dimensions; i++) v[i] *= scale;
  return v;
}

function serialise(v: Float32Array, base64: boolean): string {
  if (base64) return `"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`;
  // Nine decimals, like upstream; keeps the body about half the size of full float64 text.
  const parts = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) parts[i] = Math.round(v[i] * 1e9) / 1e9;
  return `[${parts.join(',')}]`;
}

// Serialising 1,536 numbers is the costly part: keep recent ones (about 30 kB each).
const serialised = new BoundedMap<string, string>(256);

export function renderEmbeddings(body: Json): string {
  const list = inputs(body) ?? [];
  const dimensions = typeof body.dimensions === 'number' ? body.dimensions : DEFAULT_DIMENSIONS;
  const base64 = body.encoding_format === 'base64';
  let tokens = 0;
  let data = '';
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    const text = typeof item === 'string' ? item : `\u0000tokens:${item.join(',')}`;
    tokens += typeof item === 'string' ? tokensOf(item) : item.length;
    const key = `${base64 ? 'b' : 'f'}${dimensions}|${text}`;
    let value = serialised.get(key);
    if (value === undefined) {
      value = serialise(embeddingVector(text, dimensions), base64);
      serialised.set(key, value);
    }
    data += `${i === 0 ? '' : ','}{"object":"embedding","index":${i},"embedding":${value}}`;
  }
  return (
    `{"object":"list","data":[${data}],"model":${JSON.stringify(body.model)},` +
    `"usage":{"prompt_tokens":${tokens},"total_tokens":${tokens}}}`
  );
}
