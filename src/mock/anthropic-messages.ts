import { checkInteger, isRecord, type Json, type PreparedChat, type Rendered } from './chat-request.js';
import type { ErrorSpec } from './errors.js';
import { newId } from './ids.js';
import type { CacheUsage } from './prompt-cache.js';
import { type PlannedReply, planReply } from './reply-plan.js';

/*
 * Anthropic Messages: https://docs.anthropic.com/en/api/messages and, for the event
 * sequence, https://docs.anthropic.com/en/docs/build-with-claude/streaming
 */

export function validateAnthropicMessages(body: Json): ErrorSpec | undefined {
  const invalid = validateAnthropicConversation(body);
  if (invalid) return invalid;
  // Anthropic requires max_tokens; a gateway that forgets it fails upstream, so it fails here.
  if (body.max_tokens === undefined) return { status: 400, message: 'max_tokens: Field required' };
  const bad = checkInteger(body.max_tokens, 'max_tokens', 1);
  return bad && { status: 400, message: 'max_tokens: Input should be a positive integer' };
}

/** Model and messages: what every Anthropic route reading a conversation needs (count_tokens too). */
export function validateAnthropicConversation(body: Json): ErrorSpec | undefined {
  if (typeof body.model !== 'string' || body.model === '')
    return { status: 400, message: 'model: Field required' };
  if (!Array.isArray(body.messages)) return { status: 400, message: 'messages: Field required' };
  if (body.messages.length === 0)
    return { status: 400, message: 'messages: at least one message is required' };
  for (let i = 0; i < body.messages.length; i++) {
    const m = body.messages[i];
    if (!isRecord(m) || (m.role !== 'user' && m.role !== 'assistant')) {
      return { status: 400, message: `messages.${i}.role: Input should be 'user' or 'assistant'` };
    }
  }
  return undefined;
}

function stopReason(plan: PlannedReply): string {
  if (plan.kind === 'tool') return 'tool_use';
  return plan.truncated ? 'max_tokens' : 'end_turn';
}

function event(name: string, data: string): string {
  return `event: ${name}\ndata: ${data}\n\n`;
}

export function renderAnthropicMessages(body: Json, chat: PreparedChat, cache: CacheUsage): Rendered {
  const plan = planReply(chat.conversation, chat.digest, 0, body.max_tokens as number);
  const id = newId('msg_01');
  const model = JSON.stringify(body.model);
  const inputTokens = chat.promptTokens - cache.read - cache.creation;
  const cacheUsage = `"cache_creation_input_tokens":${cache.creation},"cache_read_input_tokens":${cache.read}`;
  const toolId = plan.kind === 'tool' ? newId('toolu_01') : '';

  if (body.stream !== true) {
    const content =
      plan.kind === 'text'
        ? `{"type":"text","text":${JSON.stringify(plan.text)}}`
        : `{"type":"tool_use","id":"${toolId}","name":${JSON.stringify(plan.name)},"input":${plan.argumentsJson}}`;
    const json =
      `{"id":"${id}","type":"message","role":"assistant","model":${model},"content":[${content}],` +
      `"stop_reason":"${stopReason(plan)}","stop_sequence":null,` +
      `"usage":{"input_tokens":${inputTokens},${cacheUsage},"output_tokens":${plan.tokens},"service_tier":"standard"}}`;
    return { kind: 'json', body: json, tokens: plan.piecesJson.length };
  }

  const start =
    `{"type":"message_start","message":{"id":"${id}","type":"message","role":"assistant","model":${model},` +
    `"content":[],"stop_reason":null,"stop_sequence":null,` +
    `"usage":{"input_tokens":${inputTokens},${cacheUsage},"output_tokens":1,"service_tier":"standard"}}}`;
  const block =
    plan.kind === 'text'
      ? '{"type":"text","text":""}'
      : `{"type":"tool_use","id":"${toolId}","name":${JSON.stringify(plan.name)},"input":{}}`;
  const head =
    event('message_start', start) +
    event('content_block_start', `{"type":"content_block_start","index":0,"content_block":${block}}`) +
    event('ping', '{"type":"ping"}');
  const deltaOpen =
    plan.kind === 'text'
      ? '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
      : '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":';
  const steps = plan.piecesJson.map(
    (piece) => `event: content_block_delta\ndata: ${deltaOpen}${piece}}}\n\n`,
  );
  const tail =
    event('content_block_stop', '{"type":"content_block_stop","index":0}') +
    event(
      'message_delta',
      `{"type":"message_delta","delta":{"stop_reason":"${stopReason(plan)}","stop_sequence":null},"usage":{"output_tokens":${plan.tokens}}}`,
    ) +
    event('message_stop', '{"type":"message_stop"}');
  return { kind: 'stream', stream: { head, steps, tail } };
}
