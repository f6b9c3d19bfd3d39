import type { RequestContext } from '../pipeline/types.js';

/**
 * A cheap, allocation-free token estimate for rate limiting: about four characters per token
 * for the prompt, plus the output the request may produce. It only needs to be close: the
 * reservation is settled with the provider's real usage afterwards. A precise counter (the
 * tokens area) can be injected into the stage instead.
 */
export function roughRequestTokens(
  ctx: Pick<RequestContext, 'body' | 'route'>,
  assumedOutputTokens: number,
): number {
  const body = ctx.body;
  let chars = 0;
  let parts = 0;
  const messages = body.messages;
  if (Array.isArray(messages)) {
    for (const message of messages) {
      parts++;
      if (message !== null && typeof message === 'object')
        chars += contentChars((message as { content?: unknown }).content);
    }
  }
  chars += contentChars(body.system) + contentChars(body.input) + contentChars(body.prompt);
  const prompt = Math.ceil(chars / 4) + 4 * parts;
  if (ctx.route === 'embeddings') return prompt;
  return prompt + maxOutputTokens(body, assumedOutputTokens);
}

function maxOutputTokens(body: Record<string, unknown>, fallback: number): number {
  for (const field of ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const) {
    const v = body[field];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return fallback;
}

/** Characters of text in a string, a list of strings, or a list of content blocks. */
function contentChars(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    if (typeof part === 'string') n += part.length;
    else if (part !== null && typeof part === 'object') {
      const text = (part as { text?: unknown }).text;
      if (typeof text === 'string') n += text.length;
    }
  }
  return n;
}
