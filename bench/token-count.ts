/**
 * Token counting time against input size, by script, up to the default `maxBodyBytes`.
 * Counts with the gateway's counter (`countText`, o200k for gpt-4o-mini) and, where the exact
 * gpt-tokenizer count is feasible (its cost grows with the square of an unbroken run), gives
 * the relative error against it. Prints a markdown table.
 * Run: npm run bench:tokens
 */
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { coreConfigSchema } from '../src/config/schema.js';
import { countText } from '../src/tokens/count.js';

const PLAIN = { disallowedSpecial: new Set<string>() };
const MAX_BYTES = coreConfigSchema.parse({}).maxBodyBytes;
const SIZES = [1, 4, 16, 64, 256, 1024, 4096, MAX_BYTES / 1024].map((kb) => kb * 1024);
const RUNS = 3;

function generator(seed: number) {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

const WORDS =
  'the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part budget committee quarterly'.split(
    ' ',
  );

/** Text of about `bytes` UTF-8 bytes. */
interface Script {
  name: string;
  make: (bytes: number, seed: number) => string;
  /** Largest size (bytes) at which the exact count is still worth waiting for. */
  exactUpTo: number;
}

const scripts: Script[] = [
  {
    name: 'Latin prose',
    exactUpTo: 4 * 1024 * 1024,
    make(bytes, seed) {
      const rand = generator(1 + seed * 7919);
      const parts: string[] = [];
      let n = 0;
      while (n < bytes) {
        const w = `${WORDS[Math.floor(rand() * WORDS.length)]}${rand() < 0.08 ? '.\n' : rand() < 0.05 ? ', ' : ' '}`;
        parts.push(w);
        n += w.length;
      }
      return parts.join('').slice(0, bytes);
    },
  },
  { name: 'unbroken "a"', exactUpTo: 16 * 1024, make: (bytes) => 'a'.repeat(bytes) },
  {
    name: 'unbroken Latin (random letters)',
    exactUpTo: 16 * 1024,
    make(bytes, seed) {
      const rand = generator(2 + seed * 7919);
      const out = new Array<string>(bytes);
      for (let i = 0; i < bytes; i++) out[i] = String.fromCharCode(97 + Math.floor(rand() * 26));
      return out.join('');
    },
  },
  {
    name: 'CJK (no punctuation)',
    exactUpTo: 16 * 1024,
    make(bytes, seed) {
      const rand = generator(3 + seed * 7919);
      const out = new Array<string>(Math.floor(bytes / 3));
      for (let i = 0; i < out.length; i++) out[i] = String.fromCharCode(0x4e00 + Math.floor(rand() * 3000));
      return out.join('');
    },
  },
  {
    name: 'emoji',
    exactUpTo: 16 * 1024,
    make(bytes, seed) {
      const rand = generator(4 + seed * 7919);
      const out = new Array<string>(Math.floor(bytes / 4));
      for (let i = 0; i < out.length; i++) out[i] = String.fromCodePoint(0x1f600 + Math.floor(rand() * 80));
      return out.join('');
    },
  },
  {
    name: 'base64',
    exactUpTo: 256 * 1024,
    make(bytes, seed) {
      const rand = generator(5 + seed * 7919);
      const raw = Buffer.alloc(Math.floor((bytes * 3) / 4));
      for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand() * 256);
      return raw.toString('base64');
    },
  },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sizeLabel = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${bytes / 1024 / 1024} MB` : `${bytes / 1024} KB`;

// Warm up the tokenizer tables and the byte-pair code for every script (one-off start-up cost).
for (const s of scripts) for (let i = 0; i < 5; i++) countText(s.make(2048, 100 + i), 'gpt-4o-mini');

const rows: string[] = [
  `Token counting (countText, gpt-4o-mini / o200k), median of ${RUNS} runs; maxBodyBytes = ${sizeLabel(MAX_BYTES)}.`,
  '',
  '| script | size | chars | count ms | tokens | estimated | exact tokens | exact ms | error |',
  '|---|---:|---:|---:|---:|:---:|---:|---:|---:|',
];
for (const script of scripts) {
  for (const bytes of SIZES) {
    const text = script.make(bytes, 0);
    const times: number[] = [];
    let tokens = 0;
    let estimated = false;
    for (let run = 0; run < RUNS; run++) {
      // A distinct text per run: the counter remembers texts it has seen, and gpt-tokenizer
      // remembers pieces (which is real for a run of one letter, so that one stays as is).
      const variant = run === 0 ? `0${text}` : `${run}${script.make(bytes, run)}`;
      // Flatten the concatenated string first: a request's text comes flat out of JSON.parse.
      variant.charCodeAt(variant.length >> 1);
      const t0 = performance.now();
      const count = countText(variant, 'gpt-4o-mini');
      times.push(performance.now() - t0);
      if (run === 0) ({ tokens, estimated } = count);
    }
    let exact = '';
    let exactMs = '';
    let error = '';
    if (bytes <= script.exactUpTo) {
      const t0 = performance.now();
      const want = countTokens(`0${text}`, PLAIN);
      exactMs = (performance.now() - t0).toFixed(1);
      exact = String(want);
      error = `${(((tokens - want) / want) * 100).toFixed(2)} %`;
    }
    rows.push(
      `| ${script.name} | ${sizeLabel(bytes)} | ${text.length} | ${median(times).toFixed(2)} | ${tokens} | ${estimated ? 'yes' : 'no'} | ${exact} | ${exactMs} | ${error} |`,
    );
  }
}
console.log(rows.join('\n'));
