/**
 * Semantic tier choice for `auto` routing: embed the prompt and compare it with exemplar
 * prompts of each tier. The score is the mean cosine similarity to the `topK` nearest strong
 * exemplars minus that to the `topK` nearest cheap ones (in [-2, 2]); above `threshold` the
 * strong model is chosen. Exemplars are embedded once, on first use (or `warm()`).
 */
import { dot, type Embedder } from '../embed/types.js';

export interface TierExemplars {
  cheap: readonly string[];
  strong: readonly string[];
}

export interface SemanticTierOptions {
  topK: number;
  threshold: number;
}

export interface TierScore {
  use: 'cheap' | 'strong';
  /** Strong similarity minus cheap similarity; > threshold means strong. */
  score: number;
}

export class SemanticTierScorer {
  readonly #embedder: Embedder;
  readonly #exemplars: TierExemplars;
  readonly #options: SemanticTierOptions;
  #vectors: Promise<{ cheap: Float32Array[]; strong: Float32Array[] }> | undefined;

  constructor(embedder: Embedder, exemplars: TierExemplars, options: SemanticTierOptions) {
    if (exemplars.cheap.length === 0 || exemplars.strong.length === 0) {
      throw new TypeError('semantic routing needs at least one exemplar per tier');
    }
    if (!(Number.isInteger(options.topK) && options.topK >= 1))
      throw new TypeError('topK must be an integer >= 1');
    this.#embedder = embedder;
    this.#exemplars = exemplars;
    this.#options = options;
  }

  /** Embed the exemplars now (boot), so the first routed request waits only for its own prompt. */
  warm(): Promise<unknown> {
    return this.#exemplarVectors();
  }

  async score(text: string): Promise<TierScore> {
    const [exemplars, [vector]] = await Promise.all([this.#exemplarVectors(), this.#embedder.embed([text])]);
    const score =
      nearestMean(vector, exemplars.strong, this.#options.topK) -
      nearestMean(vector, exemplars.cheap, this.#options.topK);
    return { use: score > this.#options.threshold ? 'strong' : 'cheap', score };
  }

  #exemplarVectors(): Promise<{ cheap: Float32Array[]; strong: Float32Array[] }> {
    if (this.#vectors === undefined) {
      const { cheap, strong } = this.#exemplars;
      const embedding = this.#embedder.embed([...cheap, ...strong]).then((all) => ({
        cheap: all.slice(0, cheap.length),
        strong: all.slice(cheap.length),
      }));
      // A failed load (worker crash) is retried on the next request rather than kept.
      embedding.catch(() => {
        if (this.#vectors === embedding) this.#vectors = undefined;
      });
      this.#vectors = embedding;
    }
    return this.#vectors;
  }
}

/** Mean of the `k` highest cosine similarities of `v` to `vectors` (all unit length). */
function nearestMean(v: Float32Array, vectors: readonly Float32Array[], k: number): number {
  const top: number[] = [];
  for (const other of vectors) {
    const similarity = dot(v, other);
    if (top.length < k) {
      top.push(similarity);
      top.sort((a, b) => a - b);
    } else if (similarity > top[0]) {
      top[0] = similarity;
      top.sort((a, b) => a - b);
    }
  }
  let sum = 0;
  for (const s of top) sum += s;
  return sum / top.length;
}
