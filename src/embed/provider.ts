/**
 * Embeddings from a provider's API (e.g. OpenAI `text-embedding-3-small`). The HTTP call is
 * injected: the gateway wires it to its own upstream embeddings route, so keys, pooling,
 * retries and cost accounting stay in one place and this module never touches the network.
 */
import { type Embedder, normalise } from './types.js';

/** Returns one vector per text, in order. */
export type EmbeddingsCall = (texts: string[], model: string) => Promise<number[][]>;

export interface ProviderEmbedderOptions {
  model: string;
  /** Vector length the model returns (1536 for text-embedding-3-small). */
  dims: number;
  call: EmbeddingsCall;
  /** Most texts per API call. */
  maxBatch?: number;
  /** Inputs are cut to this many characters. */
  maxChars?: number;
}

export class ProviderEmbedder implements Embedder {
  readonly id: string;
  readonly dims: number;
  private readonly options: Required<ProviderEmbedderOptions>;

  constructor(options: ProviderEmbedderOptions) {
    if (!options.model) throw new TypeError('provider embedder: model is required');
    if (!(options.dims >= 1)) throw new TypeError('provider embedder: dims must be >= 1');
    this.options = { maxBatch: 256, maxChars: 8000, ...options };
    this.id = `provider:${options.model}`;
    this.dims = options.dims;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const { maxBatch, maxChars, model, call } = this.options;
    for (let start = 0; start < texts.length; start += maxBatch) {
      const batch = texts.slice(start, start + maxBatch).map((t) => t.slice(0, maxChars));
      const rows = await call(batch, model);
      if (rows.length !== batch.length) {
        throw new Error(`embeddings API returned ${rows.length} vectors for ${batch.length} texts`);
      }
      for (const row of rows) {
        if (row.length !== this.dims) {
          throw new Error(
            `embeddings API returned ${row.length} dimensions, expected ${this.dims} (${model})`,
          );
        }
        out.push(normalise(Float32Array.from(row)));
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}
