import { BoundedMap } from './bounded-map.js';
import { checkInteger, isRecord, type Json, prepareChat, type Rendered } from './chat-request.js';
import type { ErrorSpec } from './errors.js';
import { newId } from './ids.js';
import { type PlannedReply, planReply } from './reply-plan.js';
import { inputItems, responsesConversation } from './responses-conversation.js';

/*
 * OpenAI Responses API: https://platform.openai.com/docs/api-reference/responses (shapes as in
 * the openai SDK's `resources/responses/responses.d.ts`). JSON replies are `object: 'response'`
 * with output items; streams are typed events (`event:` line, `data` with `type` and
 * `sequence_number`) ending in `response.completed` (or `response.incomplete`) that carries the
 * whole response, usage included. Stored responses (`store` is true unless false) can be
 * continued with `previous_response_id`, as upstream.
 */

const ITEM_TYPES = new Set(['message', 'function_call', 'function_call_output']);
/** Chat-completions parameters the Responses API refuses by name (a gateway that forgot to translate). */
const CHAT_ONLY = ['messages', 'max_tokens', 'max_completion_tokens', 'response_format', 'n', 'stop'];
const STORED_RESPONSES = 1024;

export function validateOpenAIResponses(body: Json): ErrorSpec | undefined {
  if (typeof body.model !== 'string' || body.model === '')
    return {
      status: 400,
      message: "Missing required parameter: 'model'.",
      param: 'model',
      code: 'missing_required_parameter',
    };
  for (const name of CHAT_ONLY) {
    if (name in body)
      return {
        status: 400,
        message: `Unknown parameter: '${name}'.`,
        param: name,
        code: 'unknown_parameter',
      };
  }
  const input = body.input;
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) {
    return {
      status: 400,
      message: "Invalid type for 'input': expected a string or an array.",
      param: 'input',
      code: 'invalid_type',
    };
  }
  if (Array.isArray(input)) {
    for (let i = 0; i < input.length; i++) {
      const item = input[i];
      const type = isRecord(item) ? (item.type ?? 'message') : undefined;
      if (typeof type !== 'string' || !ITEM_TYPES.has(type)) {
        return {
          status: 400,
          message: `Invalid value for 'input[${i}].type': supported values are ${[...ITEM_TYPES].join(', ')}.`,
          param: `input[${i}]`,
          code: 'invalid_value',
        };
      }
    }
  }
  return checkInteger(body.max_output_tokens, 'max_output_tokens', 16);
}

/** The Responses route's state: responses stored for `previous_response_id`. */
export class MockResponses {
  readonly #stored = new BoundedMap<string, Json[]>(STORED_RESPONSES);

  clear(): void {
    this.#stored.clear();
  }

  /** The items a request continues, or the 400 upstream gives for an unknown id. */
  earlier(body: Json): Json[] | ErrorSpec {
    const id = body.previous_response_id;
    if (id === undefined || id === null) return [];
    const items = typeof id === 'string' ? this.#stored.get(id) : undefined;
    if (items) return items;
    return {
      status: 400,
      message: `Previous response with id '${String(id)}' not found.`,
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    };
  }

  render(body: Json, earlier: Json[]): Rendered {
    const chat = prepareChat(responsesConversation(body, earlier));
    const cap = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : undefined;
    const plan = planReply(chat.conversation, chat.digest, 0, cap);
    const response = responseObject(body, plan, chat.promptTokens);
    if (body.store !== false) {
      const history = [...earlier, ...inputItems(body.input), ...(response.output as Json[])];
      this.#stored.set(response.id as string, history);
    }
    if (body.stream !== true)
      return { kind: 'json', body: JSON.stringify(response), tokens: plan.piecesJson.length };
    return { kind: 'stream', stream: streamOf(response, plan) };
  }
}

function outputItem(plan: PlannedReply): Json {
  if (plan.kind === 'tool') {
    return {
      id: newId('fc_'),
      type: 'function_call',
      status: 'completed',
      arguments: plan.argumentsJson,
      call_id: newId('call_'),
      name: plan.name,
    };
  }
  return {
    id: newId('msg_'),
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: plan.text, annotations: [], logprobs: [] }],
  };
}

function responseObject(body: Json, plan: PlannedReply, inputTokens: number): Json {
  const truncated = plan.kind === 'text' && plan.truncated;
  const reasoning = isRecord(body.reasoning) ? body.reasoning : {};
  return {
    id: newId('resp_'),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: truncated ? 'incomplete' : 'completed',
    background: false,
    error: null,
    incomplete_details: truncated ? { reason: 'max_output_tokens' } : null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: body.model,
    output: [outputItem(plan)],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: reasoning.effort ?? null, summary: reasoning.summary ?? null },
    service_tier: 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: plan.tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + plan.tokens,
    },
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
}

/** The typed event sequence of `response`, cut into head, one step per token, and tail. */
function streamOf(response: Json, plan: PlannedReply): { head: string; steps: string[]; tail: string } {
  let sequence = 0;
  const event = (type: string, fields: Json): string =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
  const item = (response.output as Json[])[0];
  const pending = { ...response, status: 'in_progress', incomplete_details: null, output: [], usage: null };
  let head =
    event('response.created', { response: pending }) + event('response.in_progress', { response: pending });
  const steps: string[] = [];
  let tail = '';
  const at = { item_id: item.id, output_index: 0 };
  if (plan.kind === 'tool') {
    head += event('response.output_item.added', {
      output_index: 0,
      item: { ...item, status: 'in_progress', arguments: '' },
    });
    for (const piece of plan.piecesJson)
      steps.push(event('response.function_call_arguments.delta', { ...at, delta: JSON.parse(piece) }));
    tail += event('response.function_call_arguments.done', {
      ...at,
      name: item.name,
      arguments: item.arguments,
    });
  } else {
    const part = { type: 'output_text', text: '', annotations: [] };
    head += event('response.output_item.added', {
      output_index: 0,
      item: { ...item, status: 'in_progress', content: [] },
    });
    head += event('response.content_part.added', { ...at, content_index: 0, part });
    for (const piece of plan.piecesJson) {
      steps.push(
        event('response.output_text.delta', {
          ...at,
          content_index: 0,
          delta: JSON.parse(piece),
          logprobs: [],
        }),
      );
    }
    tail += event('response.output_text.done', { ...at, content_index: 0, text: plan.text, logprobs: [] });
    tail += event('response.content_part.done', {
      ...at,
      content_index: 0,
      part: { ...part, text: plan.text },
    });
  }
  tail += event('response.output_item.done', { output_index: 0, item });
  const final = response.status === 'incomplete' ? 'response.incomplete' : 'response.completed';
  tail += event(final, { response });
  return { head, steps, tail };
}
