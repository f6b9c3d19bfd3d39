/**
 * The simulated upstream: an OpenAI- and Anthropic-compatible fake LLM server with
 * deterministic replies, real token counts, streaming and fault injection. Used by the
 * tests, the key-less demo and the benchmarks. See docs/mock-upstream.md.
 */
export { mockUpstreamCommand } from './cli.js';
export { embeddingVector } from './embeddings.js';
export { MOCK_MODELS } from './models.js';
export type { MockCounts, MockUpstream, MockUpstreamOptions, ReceivedRequest } from './options.js';
export { startMockUpstream } from './server.js';
