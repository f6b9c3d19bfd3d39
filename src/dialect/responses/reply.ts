/**
 * A chat completion as the Responses API object a client of `POST /v1/responses` expects:
 * output items (reasoning, message with output_text / refusal parts, function calls), status
 * from the finish reason, usage in the Responses' names, and the request's settings echoed
 * as the Responses API echoes them.
 */

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Item ids derive from the chat completion's id, so one reply always gets the same ids. */
export function itemId(prefix: string, completionId: string, index: number): string {
  return `${prefix}_${completionId.replace(/^chatcmpl-/, '')}_${index}`;
}

export function responseId(completionId: string): string {
  return `resp_${completionId.replace(/^chatcmpl-/, '')}`;
}

/** Status and incomplete details from a chat finish reason (`length` → cut at max_output_tokens). */
export function statusOf(finishReason: unknown): { status: string; incomplete_details: Json | null } {
  if (finishReason === 'length')
    return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (finishReason === 'content_filter')
    return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

/** Chat usage in the Responses API's names (input includes cached tokens in both). */
export function responsesUsage(usage: unknown): Json | null {
  if (!isRecord(usage)) return null;
  const input = num(usage.prompt_tokens);
  const output = num(usage.completion_tokens);
  const inDetails = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  const outDetails = isRecord(usage.completion_tokens_details) ? usage.completion_tokens_details : {};
  return {
    input_tokens: input,
    input_tokens_details: {
      cached_tokens: num(inDetails.cached_tokens) || num(usage.prompt_cache_hit_tokens),
    },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: num(outDetails.reasoning_tokens) },
    total_tokens: num(usage.total_tokens) || input + output,
  };
}

/** The response object around `output`: what the Responses API echoes from the request. */
export function responseEnvelope(
  request: Readonly<Json>,
  fields: { id: string; createdAt: number; model: unknown; status: string; incomplete: Json | null },
  output: Json[],
  usage: Json | null,
): Json {
  const reasoning = isRecord(request.reasoning) ? request.reasoning : {};
  return {
    id: fields.id,
    object: 'response',
    created_at: fields.createdAt,
    status: fields.status,
    background: false,
    error: null,
    incomplete_details: fields.incomplete,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: fields.model,
    output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: reasoning.effort ?? null, summary: null },
    // Nothing was stored: the answer came from a chat completions server.
    store: false,
    temperature: request.temperature ?? null,
    text: request.text ?? { format: { type: 'text' } },
    tool_choice: request.tool_choice ?? 'auto',
    tools: Array.isArray(request.tools) ? request.tools : [],
    top_p: request.top_p ?? null,
    truncation: 'disabled',
    usage,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  };
}

export const reasoningItem = (id: string, text: string, status = 'completed'): Json => ({
  id,
  type: 'reasoning',
  summary: text === '' ? [] : [{ type: 'summary_text', text }],
  status,
});

export const outputTextPart = (text: string): Json => ({
  type: 'output_text',
  text,
  annotations: [],
  logprobs: [],
});

export const messageItem = (id: string, content: Json[], status = 'completed'): Json => ({
  id,
  type: 'message',
  status,
  role: 'assistant',
  content,
});

export const functionCallItem = (
  id: string,
  callId: string,
  name: string,
  args: string,
  status = 'completed',
): Json => ({ id, type: 'function_call', status, arguments: args, call_id: callId, name });

/** The Responses object for a (non-streamed) chat completion answering `request`. */
export function chatToResponse(completion: Readonly<Json>, request: Readonly<Json>): Json {
  const chatId = typeof completion.id === 'string' ? completion.id : 'chatcmpl-translated';
  const choice =
    Array.isArray(completion.choices) && isRecord(completion.choices[0]) ? completion.choices[0] : {};
  const message = isRecord(choice.message) ? choice.message : {};
  const output: Json[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === 'string' && reasoning !== '')
    output.push(reasoningItem(itemId('rs', chatId, output.length), reasoning));
  const content: Json[] = [];
  if (typeof message.content === 'string' && message.content !== '')
    content.push(outputTextPart(message.content));
  if (typeof message.refusal === 'string' && message.refusal !== '')
    content.push({ type: 'refusal', refusal: message.refusal });
  if (content.length > 0) output.push(messageItem(itemId('msg', chatId, output.length), content));
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) {
      if (!isRecord(call) || !isRecord(call.function)) continue;
      output.push(
        functionCallItem(
          itemId('fc', chatId, output.length),
          String(call.id ?? ''),
          String(call.function.name ?? ''),
          String(call.function.arguments ?? ''),
        ),
      );
    }
  }
  const { status, incomplete_details } = statusOf(choice.finish_reason);
  return responseEnvelope(
    request,
    {
      id: responseId(chatId),
      createdAt: num(completion.created) || Math.floor(Date.now() / 1000),
      model: completion.model ?? request.model,
      status,
      incomplete: incomplete_details,
    },
    output,
    responsesUsage(completion.usage),
  );
}
