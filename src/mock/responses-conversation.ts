import {
  type Conversation,
  ConversationBuilder,
  type ResponseFormat,
  type ToolChoice,
} from './conversation.js';

/*
 * The OpenAI Responses API's request as the mock's dialect-neutral conversation. A Responses
 * request and the chat completion it translates to (instructions as a system message, function
 * calls as one assistant turn's tool calls, consecutive outputs as one turn of tool results)
 * give the same fingerprint, so the mock answers both alike.
 */

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The input items a request stands for: its `input` (a string is one user message). */
export function inputItems(input: unknown): Json[] {
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? input.filter(isRecord) : [];
}

/** `earlier`: the items of the stored responses this one continues (`previous_response_id`). */
export function responsesConversation(body: Json, earlier: readonly Json[] = []): Conversation {
  const b = new ConversationBuilder();
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (isRecord(t) && t.type === 'function' && typeof t.name === 'string')
        b.tool(t.name, str(t.description), t.parameters);
    }
  }
  if (typeof body.instructions === 'string' && body.instructions !== '') {
    b.beginMessage('system');
    b.text(body.instructions);
  }
  let previous = '';
  for (const item of [...earlier, ...inputItems(body.input)]) {
    const type = item.type === undefined ? 'message' : str(item.type);
    if (type === 'message') {
      const role = item.role === 'developer' ? 'system' : str(item.role);
      b.beginMessage(role);
      content(b, item.content);
      previous = role === 'assistant' ? 'assistant' : 'message';
    } else if (type === 'function_call') {
      if (previous !== 'assistant') b.beginMessage('assistant');
      b.toolCall(str(item.name), str(item.arguments));
      previous = 'assistant';
    } else if (type === 'function_call_output') {
      if (previous !== 'output') b.beginMessage('user');
      b.toolResult(outputText(item.output));
      previous = 'output';
    }
  }
  return b.finish(toolChoice(body.tool_choice), responseFormat(body.text));
}

function content(b: ConversationBuilder, value: unknown): void {
  if (typeof value === 'string') {
    b.text(value);
    return;
  }
  if (!Array.isArray(value)) return;
  for (const part of value) {
    if (!isRecord(part)) continue;
    if (part.type === 'input_text' || part.type === 'output_text') b.text(str(part.text));
    else if (part.type === 'refusal') b.text(str(part.refusal));
    else if (part.type === 'input_image') b.image(str(part.image_url ?? part.file_id).slice(0, 256));
  }
}

function outputText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) return '';
  let out = '';
  for (const part of output) if (isRecord(part) && part.type === 'input_text') out += str(part.text);
  return out;
}

function toolChoice(choice: unknown): ToolChoice {
  if (choice === 'none' || choice === 'required') return { mode: choice };
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string')
    return { mode: 'named', name: choice.name };
  return { mode: 'auto' };
}

function responseFormat(text: unknown): ResponseFormat | undefined {
  const format = isRecord(text) ? text.format : undefined;
  if (!isRecord(format)) return undefined;
  if (format.type === 'json_object') return { kind: 'json_object' };
  if (format.type === 'json_schema') return { kind: 'json_schema', schema: format.schema };
  return undefined;
}
