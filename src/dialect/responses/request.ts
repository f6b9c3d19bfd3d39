/**
 * A Responses API request (`POST /v1/responses`) as a chat completions request, for upstreams
 * that only speak chat completions. Every field the Responses API knows is decided here: mapped,
 * accepted because chat completions behaves that way already, or refused with a 400 naming it
 * (a parameter the target cannot honour is never dropped silently). The mapping table is in
 * docs/translation.md.
 */
import { SluiceError } from '../../errors.js';

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields that only make sense against a stateful Responses API (stored state, background runs). */
export const STATEFUL_FIELDS = ['previous_response_id', 'conversation', 'prompt', 'background'] as const;

/**
 * Whether a request depends on or creates state at the provider: it continues a stored response
 * or conversation, uses a stored prompt, runs in the background, or asks to be stored
 * (`store: true`). Such a request can only go to an upstream serving the Responses API and is
 * never cached. An absent `store` counts as stateless: the answer does not depend on it.
 */
export function isStatefulRequest(body: Readonly<Json>): boolean {
  if (body.store === true) return true;
  return STATEFUL_FIELDS.some((f) => body[f] !== undefined && body[f] !== null && body[f] !== false);
}

export interface ChatRequestOptions {
  /**
   * Where the output cap goes: OpenAI's reasoning models take only `max_completion_tokens`, other
   * OpenAI-compatible servers know `max_tokens` (the budget stage decides the same way).
   */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
}

/** Include values a translated reply honours: there is no reasoning item to encrypt. */
const HONOURED_INCLUDES = new Set(['reasoning.encrypted_content']);

const refuse = (param: string, why: string): SluiceError =>
  new SluiceError('invalid_request', `${param}: ${why}`, { param });
const notTranslatable = (param: string, detail = ''): SluiceError =>
  refuse(
    param,
    `not supported when this model's upstream only serves chat completions${detail ? ` (${detail})` : ''}`,
  );

type FieldRule = (value: unknown, chat: Json, options: ChatRequestOptions) => void;

const copyAs =
  (name: string): FieldRule =>
  (value, chat) => {
    chat[name] = value;
  };

/** Every top-level Responses field: how it becomes chat completions (an unknown field is refused). */
const FIELD_RULES: Readonly<Record<string, FieldRule>> = {
  model: copyAs('model'),
  input: () => {}, // read with `instructions` below
  instructions: () => {},
  stream: (value, chat) => {
    chat.stream = value;
    // The closing `response.completed` event carries usage: the chat stream must report it.
    if (value === true) chat.stream_options = { include_usage: true };
  },
  stream_options: (value) => {
    // `include_obfuscation` pads deltas against side channels; translated deltas carry no padding.
    if (isRecord(value) && Object.keys(value).some((k) => k !== 'include_obfuscation'))
      throw notTranslatable('stream_options');
  },
  temperature: copyAs('temperature'),
  top_p: copyAs('top_p'),
  max_output_tokens: (value, chat, options) => {
    if (value !== null) chat[options.maxTokensField] = value;
  },
  parallel_tool_calls: copyAs('parallel_tool_calls'),
  tools: (value, chat) => {
    if (!Array.isArray(value)) return;
    chat.tools = value.map((tool, i) => chatTool(tool, i));
  },
  tool_choice: (value, chat) => {
    chat.tool_choice = chatToolChoice(value);
  },
  text: (value, chat) => {
    if (!isRecord(value)) return;
    for (const key of Object.keys(value)) {
      if (key === 'format') {
        const format = chatResponseFormat(value.format);
        if (format) chat.response_format = format;
      } else if (key === 'verbosity') {
        if (value.verbosity !== null) chat.verbosity = value.verbosity;
      } else throw notTranslatable(`text.${key}`);
    }
  },
  reasoning: (value, chat) => {
    if (!isRecord(value)) return;
    for (const key of Object.keys(value)) {
      const v = value[key];
      if (v === null || v === undefined) continue;
      if (key === 'effort') chat.reasoning_effort = v;
      else throw notTranslatable(`reasoning.${key}`, 'chat completions return no reasoning summaries');
    }
  },
  include: (value) => {
    if (!Array.isArray(value)) return;
    value.forEach((entry, i) => {
      if (typeof entry !== 'string' || !HONOURED_INCLUDES.has(entry)) throw notTranslatable(`include[${i}]`);
    });
  },
  store: (value) => {
    // Chat-completions servers keep nothing: `store: false` is what they do anyway.
    if (value === true) throw notTranslatable('store', 'nothing would be stored');
  },
  truncation: (value) => {
    if (value !== 'disabled' && value !== null) throw notTranslatable('truncation');
  },
  user: copyAs('user'),
  safety_identifier: copyAs('safety_identifier'),
  prompt_cache_key: copyAs('prompt_cache_key'),
  service_tier: copyAs('service_tier'),
  metadata: copyAs('metadata'),
};

/** Chat completions for a stateless Responses request; throws a 400 naming any field it cannot carry. */
export function responsesToChat(body: Readonly<Json>, options: ChatRequestOptions): Json {
  for (const field of STATEFUL_FIELDS) {
    if (body[field] !== undefined && body[field] !== null && body[field] !== false)
      throw notTranslatable(field, 'it needs an upstream that serves the Responses API');
  }
  const chat: Json = {};
  for (const [field, value] of Object.entries(body)) {
    if (value === undefined) continue;
    const rule = FIELD_RULES[field];
    if (!rule) throw notTranslatable(field);
    rule(value, chat, options);
  }
  chat.messages = chatMessages(body.instructions, body.input);
  return chat;
}

function chatMessages(instructions: unknown, input: unknown): Json[] {
  const messages: Json[] = [];
  if (typeof instructions === 'string' && instructions !== '')
    messages.push({ role: 'system', content: instructions });
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return messages;
  }
  if (!Array.isArray(input)) return messages;
  // Function calls join the assistant turn they follow, as chat completions spell one turn.
  let assistant: Json | undefined;
  input.forEach((item, i) => {
    const where = `input[${i}]`;
    if (!isRecord(item)) throw refuse(where, 'expected an input item object');
    const type = item.type ?? 'message';
    if (type === 'message') {
      const message = chatMessage(item, where);
      messages.push(message);
      assistant = message.role === 'assistant' ? message : undefined;
    } else if (type === 'function_call') {
      const call = {
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      };
      if (!assistant) {
        assistant = { role: 'assistant', content: null };
        messages.push(assistant);
      }
      assistant.tool_calls = [...((assistant.tool_calls as Json[] | undefined) ?? []), call];
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: toolOutput(item.output, where) });
      assistant = undefined;
    } else if (type === 'reasoning') {
      // Chat completions have no field for earlier reasoning, and the servers that return it
      // (DeepSeek's reasoning_content) ask clients not to send it back: it is left out.
    } else throw notTranslatable(`${where}.type`, `input items of type '${String(type)}'`);
  });
  return messages;
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);

function chatMessage(item: Json, where: string): Json {
  const role = item.role;
  if (typeof role !== 'string' || !ROLES.has(role))
    throw refuse(`${where}.role`, 'expected user, assistant, system or developer');
  const content = item.content;
  if (typeof content === 'string') return { role, content };
  if (!Array.isArray(content)) throw refuse(`${where}.content`, 'expected a string or an array of parts');
  if (role === 'assistant') {
    // Earlier answers come back as output_text / refusal parts; chat takes them as one text.
    let text = '';
    let refusal: string | undefined;
    content.forEach((part, j) => {
      if (isRecord(part) && (part.type === 'output_text' || part.type === 'input_text'))
        text += String(part.text ?? '');
      else if (isRecord(part) && part.type === 'refusal') refusal = String(part.refusal ?? '');
      else throw notTranslatable(`${where}.content[${j}]`);
    });
    return refusal !== undefined && text === '' ? { role, content: null, refusal } : { role, content: text };
  }
  return { role, content: content.map((part, j) => chatPart(part, `${where}.content[${j}]`)) };
}

function chatPart(part: unknown, where: string): Json {
  if (!isRecord(part)) throw refuse(where, 'expected a content part object');
  if (part.type === 'input_text' || part.type === 'output_text') return { type: 'text', text: part.text };
  if (part.type === 'input_image') {
    if (typeof part.image_url !== 'string')
      throw notTranslatable(`${where}.file_id`, 'images by file id; send the image as a URL or data URL');
    const image: Json = { url: part.image_url };
    if (part.detail !== undefined && part.detail !== null) image.detail = part.detail;
    return { type: 'image_url', image_url: image };
  }
  throw notTranslatable(`${where}.type`, `content parts of type '${String(part.type)}'`);
}

function toolOutput(output: unknown, where: string): unknown {
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) throw refuse(`${where}.output`, 'expected a string or an array of parts');
  return output.map((part, j) => {
    if (isRecord(part) && part.type === 'input_text') return { type: 'text', text: part.text };
    throw notTranslatable(`${where}.output[${j}]`, 'tool results carry only text in chat completions');
  });
}

function chatTool(tool: unknown, i: number): Json {
  if (!isRecord(tool) || tool.type !== 'function')
    throw notTranslatable(`tools[${i}].type`, 'only function tools have a chat completions form');
  const fn: Json = { name: tool.name };
  if (tool.description !== undefined && tool.description !== null) fn.description = tool.description;
  if (tool.parameters !== undefined && tool.parameters !== null) fn.parameters = tool.parameters;
  if (tool.strict !== undefined && tool.strict !== null) fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function chatToolChoice(choice: unknown): unknown {
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice;
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string')
    return { type: 'function', function: { name: choice.name } };
  throw notTranslatable('tool_choice', 'only auto, none, required or a function');
}

function chatResponseFormat(format: unknown): Json | undefined {
  if (format === undefined || format === null) return undefined;
  if (!isRecord(format)) throw refuse('text.format', 'expected an object');
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') {
    const schema: Json = { name: format.name, schema: format.schema };
    if (format.description !== undefined) schema.description = format.description;
    if (format.strict !== undefined && format.strict !== null) schema.strict = format.strict;
    return { type: 'json_schema', json_schema: schema };
  }
  throw notTranslatable('text.format.type');
}
