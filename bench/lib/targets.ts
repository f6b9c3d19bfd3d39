import { type Lab, MODEL_CLAUDE, MODEL_FAST, MODEL_PACED } from './lab.js';
import type { RequestKind } from './scenarios.js';

/** Where a scenario's requests go. */
export type TargetId = 'direct' | 'floor' | 'sluice' | 'portkey' | 'sluice-cache';

export interface RequestShape {
  stream: boolean;
  /** Which route and model (Sluice targets only; default 'openai'). */
  request?: RequestKind;
  /** Send to the paced upstream (per-token delay), for time-to-first-byte runs. */
  paced: boolean;
  headers?: Record<string, string>;
  /** Extra body fields (e.g. `temperature: 0`, which makes a request cacheable). */
  fields?: Record<string, unknown>;
  /** Give every request its own `seed`: a distinct cache key each time, the same reply upstream. */
  uniqueSeed?: boolean;
}

export interface HttpRequestSpec {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  /** When set, each request's body comes from here instead of `body`. */
  nextBody?: () => string;
}

// Shared by every scenario of a run, so a cache never sees the same seed twice.
let seedCounter = 0;

const PROMPT = 'Benchmark request: describe how a sluice gate controls the flow of water, in two sentences.';
/** Load runs: a short answer, the size of a typical chat reply. */
const MAX_TOKENS = 48;
/** TTFB runs: the paced upstream spends its token delay per token, so keep those streams short. */
const MAX_TOKENS_PACED = 8;

/** One chat completion request, the same body for every target. */
export function chatBody(
  model: string,
  stream: boolean,
  maxTokens: number,
  fields?: Record<string, unknown>,
): string {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: PROMPT }],
    max_tokens: maxTokens,
    stream,
    ...fields,
  });
}

/** A body generator that differs only in `seed` (the simulated upstream ignores it). */
function seededBodies(body: string): () => string {
  const head = `${body.slice(0, -1)},"seed":`;
  return () => `${head}${++seedCounter}}`;
}

/** The Anthropic route's headers: what the official SDK sends. */
const ANTHROPIC_HEADERS = { 'x-api-key': 'sk-ant-bench-not-a-real-key', 'anthropic-version': '2023-06-01' };

/**
 * The same OpenAI chat request, addressed to a target (the mock itself, Sluice or Portkey); for
 * Sluice, also to the claude model on the OpenAI route (translated) or on the Anthropic route.
 * The Anthropic Messages body differs from the chat body only where the dialects do (same
 * prompt, `max_tokens`, `stream`).
 */
export async function chatRequest(lab: Lab, target: TargetId, shape: RequestShape): Promise<HttpRequestSpec> {
  const request = shape.request ?? 'openai';
  if (request !== 'openai' && (target !== 'sluice' || shape.paced))
    throw new Error(`a '${request}' request goes to the fast simulated upstream through Sluice only`);
  const upstream = await lab.get(shape.paced ? 'mock-paced' : 'mock');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    // Neither the mock nor Sluice (without virtual keys) checks it; Portkey requires one.
    authorization: 'Bearer sk-bench-not-a-real-key',
    ...(request === 'anthropic' ? ANTHROPIC_HEADERS : {}),
    ...shape.headers,
  };
  const body = shape.paced
    ? chatBody(MODEL_PACED, shape.stream, MAX_TOKENS_PACED, shape.fields)
    : chatBody(request === 'openai' ? MODEL_FAST : MODEL_CLAUDE, shape.stream, MAX_TOKENS, shape.fields);
  const nextBody = shape.uniqueSeed ? seededBodies(body) : undefined;
  const path = request === 'anthropic' ? '/v1/messages' : '/v1/chat/completions';
  switch (target) {
    case 'direct':
      return { url: upstream.url + path, method: 'POST', headers, body, nextBody };
    case 'floor':
    case 'sluice':
    case 'sluice-cache': {
      // These pick the upstream from the model name (see Lab).
      const proxy = await lab.get(target);
      return { url: proxy.url + path, method: 'POST', headers, body, nextBody };
    }
    case 'portkey': {
      const portkey = await lab.get('portkey');
      headers['x-portkey-provider'] = 'openai';
      headers['x-portkey-custom-host'] = `${upstream.url}/v1`;
      return { url: portkey.url + path, method: 'POST', headers, body, nextBody };
    }
  }
}
