/**
 * Complete (non-streamed) replies between the dialects: content, tool calls, finish/stop
 * reasons, usage and ids. Pure functions over parsed JSON.
 */
import { isRecord, type Json, num, str, unrepresentable } from './json.js';

/** Anthropic `stop_reason` → OpenAI `finish_reason`. */
export const FINISH_REASON_BY_STOP_REASON: Readonly<Record<string, string>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** OpenAI `finish_reason` → Anthropic `stop_reason`. */
export const STOP_REASON_BY_FINISH_REASON: Readonly<Record<string, string>> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

export const finishReasonOf = (stopReason: unknown): string =>
  FINISH_REASON_BY_STOP_REASON[str(stopReason)] ?? 'stop';
export const stopReasonOf = (finishReason: unknown): string =>
  STOP_REASON_BY_FINISH_REASON[str(finishReason)] ?? 'end_turn';

/**
 * Anthropic usage → OpenAI usage. Anthropic's `input_tokens` excludes cache reads and writes;
 * OpenAI's `prompt_tokens` includes them, with the reads repeated as `cached_tokens`.
 */
export function chatUsageOf(usage: unknown): Json {
  const u = isRecord(usage) ? usage : {};
  const cacheRead = num(u.cache_read_input_tokens);
  const cacheWrite = num(u.cache_creation_input_tokens);
  const prompt = num(u.input_tokens) + cacheRead + cacheWrite;
  const completion = num(u.output_tokens);
  const out: Json = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cacheRead },
  };
  // Carried under the name OpenAI-compatible proxies use, so a cache write is not billed as plain input.
  if (cacheWrite > 0) out.cache_creation_input_tokens = cacheWrite;
  return out;
}

/** OpenAI usage → Anthropic usage (the inverse of `chatUsageOf`). */
export function messagesUsageOf(usage: unknown): Json {
  const u = isRecord(usage) ? usage : {};
  const details = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cacheRead = num(details.cached_tokens) || num(u.prompt_cache_hit_tokens);
  const cacheWrite = num(u.cache_creation_input_tokens) || num(details.cache_write_tokens);
  return {
    input_tokens: Math.max(0, num(u.prompt_tokens) - cacheRead - cacheWrite),
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    output_tokens: num(u.completion_tokens),
  };
}

/** An Anthropic message → a chat completion. Thinking text rides in `reasoning_content` (as DeepSeek and vLLM send it). */
export function messagesResponseToChat(resp: Json, requestedModel: string): Json {
  let text = '';
  let reasoning = '';
  const toolCalls: Json[] = [];
  for (const block of Array.isArray(resp.content) ? resp.content : []) {
    if (!isRecord(block)) continue;
    if (block.type === 'text') text += str(block.text);
    else if (block.type === 'thinking') reasoning += str(block.thinking);
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: str(block.id),
        type: 'function',
        function: { name: str(block.name), arguments: JSON.stringify(block.input ?? {}) },
      });
    } else if (block.type !== 'redacted_thinking') {
      throw unrepresentable('openai', `a ${JSON.stringify(block.type)} content block`);
    }
  }
  const message: Json = {
    role: 'assistant',
    content: toolCalls.length > 0 && text === '' ? null : text,
    refusal: null,
  };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: str(resp.id),
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: str(resp.model) || requestedModel,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReasonOf(resp.stop_reason) }],
    usage: chatUsageOf(resp.usage),
  };
}

/** A chat completion (one choice: translation refuses n > 1) → an Anthropic message. */
export function chatResponseToMessages(resp: Json): Json {
  const choice = Array.isArray(resp.choices) && isRecord(resp.choices[0]) ? resp.choices[0] : {};
  const message = isRecord(choice.message) ? choice.message : {};
  const content: Json[] = [];
  const reasoning = str(message.reasoning_content) || str(message.reasoning);
  // No signature: an OpenAI model's reasoning cannot be verified by Anthropic (see docs/translation.md).
  if (reasoning) content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  const text = str(message.content) || str(message.refusal);
  if (text) content.push({ type: 'text', text });
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    if (!isRecord(call) || !isRecord(call.function)) continue;
    content.push({
      type: 'tool_use',
      id: str(call.id),
      name: str(call.function.name),
      input: toolInput(call.function.arguments),
    });
  }
  return {
    id: str(resp.id),
    type: 'message',
    role: 'assistant',
    model: str(resp.model),
    content,
    stop_reason: stopReasonOf(choice.finish_reason),
    stop_sequence: null,
    usage: messagesUsageOf(resp.usage),
  };
}

/** Tool arguments as the object Anthropic's `input` must be; anything else is not representable. */
export function toolInput(args: unknown): Json {
  const text = str(args);
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unrepresentable('anthropic', 'tool call arguments that are not JSON');
  }
  if (!isRecord(parsed)) throw unrepresentable('anthropic', 'tool call arguments that are not a JSON object');
  return parsed;
}
