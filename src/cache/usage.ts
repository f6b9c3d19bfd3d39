import type { Dialect, RouteName, Usage } from '../pipeline/types.js';

/**
 * Token usage between the normalised `Usage` and each dialect's own JSON, for the entries'
 * bookkeeping (tokens a hit avoids) and for completing a stored response whose stream did
 * not carry usage (the gateway learned it another way).
 */

type Json = Record<string, unknown>;
const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

export function usageFromResponse(dialect: Dialect, route: RouteName, response: Json): Usage | undefined {
  const u = response.usage as Json | undefined | null;
  if (!u) return undefined;
  if (dialect === 'anthropic') {
    return {
      inputTokens: num(u.input_tokens),
      cacheReadTokens: num(u.cache_read_input_tokens),
      cacheWriteTokens: num(u.cache_creation_input_tokens),
      outputTokens: num(u.output_tokens),
    };
  }
  if (dialect === 'responses') {
    const cachedInput = num((u.input_tokens_details as Json | undefined)?.cached_tokens);
    return {
      inputTokens: num(u.input_tokens) - cachedInput,
      cacheReadTokens: cachedInput,
      cacheWriteTokens: 0,
      outputTokens: num(u.output_tokens),
    };
  }
  const cached = num((u.prompt_tokens_details as Json | undefined)?.cached_tokens);
  return {
    inputTokens: num(u.prompt_tokens) - cached,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: route === 'embeddings' ? 0 : num(u.completion_tokens),
  };
}

export function usageToDialect(dialect: Dialect, usage: Usage): Json {
  if (dialect === 'anthropic') {
    return {
      input_tokens: usage.inputTokens,
      cache_creation_input_tokens: usage.cacheWriteTokens,
      cache_read_input_tokens: usage.cacheReadTokens,
      output_tokens: usage.outputTokens,
    };
  }
  const prompt = usage.inputTokens + usage.cacheReadTokens + usage.cacheWriteTokens;
  if (dialect === 'responses') {
    return {
      input_tokens: prompt,
      input_tokens_details: { cached_tokens: usage.cacheReadTokens },
      output_tokens: usage.outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: prompt + usage.outputTokens,
    };
  }
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheReadTokens },
  };
}

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({
  inputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
});

/** Is this parsed 2xx body a complete answer worth storing? */
export function isCompleteResponse(dialect: Dialect, route: RouteName, response: Json): boolean {
  if (route === 'embeddings') return response.object === 'list' && Array.isArray(response.data);
  if (dialect === 'anthropic') return response.type === 'message' && typeof response.stop_reason === 'string';
  // A response cut at max_output_tokens is as complete as a chat completion cut at max_tokens.
  if (dialect === 'responses')
    return (
      response.object === 'response' && (response.status === 'completed' || response.status === 'incomplete')
    );
  return (
    response.object === 'chat.completion' &&
    Array.isArray(response.choices) &&
    response.choices.length > 0 &&
    (response.choices as Json[]).every((c) => typeof c.finish_reason === 'string')
  );
}
