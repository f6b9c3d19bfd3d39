/**
 * Uses the real offline embedder (Universal Sentence Encoder lite, in a worker thread): model
 * load takes about a second and each file run embeds a few dozen sentences — a few seconds
 * in all. This is where the verifier is shown to reject the classic traps on real vectors.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { SemanticCache } from '../src/cache/semantic/cache.js';
import { evalSemanticCommand } from '../src/cache/semantic/eval.js';
import { verifierFor } from '../src/cache/semantic/verifier.js';
import { USE_LITE_VERIFIER } from '../src/cache/semantic/verifier-model.js';
import { CachedEmbedder } from '../src/embed/cached.js';
import { dot } from '../src/embed/types.js';
import { UseLiteEmbedder } from '../src/embed/use-lite.js';

const embedder = new CachedEmbedder(new UseLiteEmbedder());
const verifier = verifierFor(embedder.id, USE_LITE_VERIFIER, { cosineThreshold: 0.95 });
const tmp: string[] = [];

before(async () => {
  await embedder.embed(['load the model once']);
});
after(async () => {
  await embedder.close();
  for (const dir of tmp) await rm(dir, { recursive: true, force: true });
});

/** A fresh cache holding only `stored`, asked `asked`. */
async function servedFrom(stored: string, asked: string) {
  const cache = new SemanticCache({ embedder, verifier });
  await cache.insert('scope', stored, 'stored-answer', 60);
  const result = await cache.lookup('scope', asked);
  await cache.close();
  return result;
}

describe('semantic verifier on USE-lite', () => {
  const traps: Array<[string, string]> = [
    ['What is the capital of France?', 'What is the capital of Spain?'],
    ['What is 2+3?', 'What is 2+4?'],
    ['How to cook rice', 'How not to cook rice'],
    ['How do I cook rice?', 'How do I not cook rice?'],
    ['What is the best laptop for students?', 'What is the worst laptop for students?'],
    ['Why is the sky blue?', 'When is the sky blue?'],
  ];
  for (const [stored, asked] of traps) {
    it(`rejects the trap "${stored}" → "${asked}"`, async () => {
      const result = await servedFrom(stored, asked);
      assert.equal(result.hit, false);
    });
  }

  it('rejects a trap even where the cosine alone would let it through', async () => {
    const [a, b] = await embedder.embed(['What is 2+3?', 'What is 2+4?']);
    assert.ok(dot(a, b) > 0.97, 'USE-lite puts these two very close');
    assert.equal((await servedFrom('What is 2+3?', 'What is 2+4?')).hit, false);
  });

  const paraphrases: Array<[string, string]> = [
    ['What is the capital of France?', "What's the capital of France?"],
    ['How do I reset my password?', 'How can I reset my password?'],
    ['How can I learn Python quickly?', 'How do I learn Python fast?'],
    [
      'What is the difference between a virus and a bacterium?',
      "What's the difference between a virus and a bacterium?",
    ],
    ['Translate good morning into German', 'Translate good morning to German'],
  ];
  for (const [stored, asked] of paraphrases) {
    it(`serves the paraphrase "${stored}" → "${asked}"`, async () => {
      const result = await servedFrom(stored, asked);
      assert.equal(result.hit, true);
      assert.equal(result.hit && result.entryKey, 'stored-answer');
      assert.ok(result.hit && result.score >= verifier.model.threshold);
    });
  }

  it('picks the right entry among several in one scope', async () => {
    const cache = new SemanticCache({ embedder, verifier });
    await cache.insert('scope', 'What is the capital of France?', 'france', 60);
    await cache.insert('scope', 'What is the capital of Spain?', 'spain', 60);
    await cache.insert('scope', 'How do I reset my password?', 'password', 60);
    const result = await cache.lookup('scope', "What's the capital of Spain?");
    assert.equal(result.hit && result.entryKey, 'spain');
    await cache.close();
  });
});

describe('UseLiteEmbedder', () => {
  it('returns unit vectors, the same for a text whether batched or alone', async () => {
    const raw = new UseLiteEmbedder();
    try {
      const texts = ['one sentence', 'another sentence entirely', 'a third'];
      const [together, ...alone] = await Promise.all([
        raw.embed(texts),
        ...texts.map((t) => raw.embed([t]).then((v) => v[0])),
      ]);
      together.forEach((v, i) => {
        assert.equal(v.length, 512);
        assert.ok(Math.abs(dot(v, v) - 1) < 1e-5);
        assert.ok(dot(v, alone[i]) > 0.9999);
      });
    } finally {
      await raw.close();
    }
  });

  it('runs without any network access', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        './test/fixtures/semantic-no-network.mjs',
        'test/fixtures/semantic-embed-offline.ts',
      ],
      { cwd: root, timeout: 60_000 },
    );
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.equal(result.networkBlocked, true, 'the preload really blocks the network');
    assert.equal(result.dims, 512);
    assert.ok(result.cosine > 0.7, `similar sentences embed close (cosine ${result.cosine})`);
  });
});

describe('eval-semantic command', () => {
  it('prints the false-hit and duplicate hit rates as JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-eval-'));
    tmp.push(dir);
    const pairs = join(dir, 'pairs.jsonl');
    await writeFile(
      pairs,
      [
        { a: 'What is the capital of France?', b: 'What is the capital of Spain?', duplicate: 0 },
        { a: 'How do I reset my password?', b: 'How can I reset my password?', duplicate: 1 },
        { a: 'How can I learn Python quickly?', b: 'How do I learn Python fast?' },
        { a: 'What is 2+3?', b: 'What is 2+4?', duplicate: 0 },
      ]
        .map((p) => JSON.stringify(p))
        .join('\n'),
    );
    const chunks: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => {
      chunks.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await evalSemanticCommand(['--pairs', pairs, '--json', '--data-dir', dir]);
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 0);
    const result = JSON.parse(chunks.join(''));
    assert.deepEqual(
      {
        false_hit_rate: result.false_hit_rate,
        duplicate_hit_rate: result.duplicate_hit_rate,
        pairs: result.pairs,
      },
      { false_hit_rate: 0, duplicate_hit_rate: 1, pairs: 4 },
    );
  });
});
