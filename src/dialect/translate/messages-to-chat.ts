/**
 * An Anthropic Messages request → the OpenAI chat-completions request that asks the same
 * thing. Pure: plain JSON in, plain JSON out; what cannot be honoured throws a 400 naming it.
 * The mapping is documented row by row in docs/translation.md.
 */
import { ANTHROPIC_MESSAGES_TO_CHAT, checkFields } from './fields.js';
import { isRecord, type Json, str, untranslatable } from './json.js';

const refuse = (param: string, why: string) => untranslatable('openai', param, why);

/** Anthropic thinking budget → `reasoning_effort`: below 8192 low, below 16384 medium, else high. */
export function effortForBudget(budget: number): 'low' | 'medium' | 'high' {
  if (budget < 8192) return 'low';
  if (budget < 16384) return 'medium';
  return 'high';
}

/** Marks a tool result Anthropic flagged `is_error`: OpenAI tool messages have no such flag. */
export const TOOL_ERROR_PREFIX = '[tool error] ';

type Message = Json;

export function messagesToChatRequest(body: Json): Json {
  checkFields(body, ANTHROPIC_MESSAGES_TO_CHAT, 'openai');
  const messages: Message[] = [];
  const system = systemMessage(body.system);
  if (system) messages.push(system);
  const turns = Array.isArray(body.messages) ? body.messages : [];
  turns.forEach((turn, i) => {
    messages.push(...convertTurn(turn, `messages[${i}]`));
  });
  const out: Json = { model: body.model, messages };
  if (typeof body.max_tokens === 'number') out.max_completion_tokens = body.max_tokens;
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map(convertTool);
    const choice = toolChoice(body.tool_choice);
    if (choice.tool_choice !== undefined) out.tool_choice = choice.tool_choice;
    if (choice.noParallel) out.parallel_tool_calls = false;
  } else if (
    isRecord(body.tool_choice) &&
    (body.tool_choice.type === 'any' || body.tool_choice.type === 'tool')
  ) {
    throw refuse('tool_choice', 'it asks for a tool but the request offers no tools');
  }
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  const effort = reasoningEffort(body.thinking, body.output_config);
  if (effort) out.reasoning_effort = effort;
  const format = responseFormat(body.output_config);
  if (format) out.response_format = format;
  if (isRecord(body.metadata) && typeof body.metadata.user_id === 'string' && body.metadata.user_id !== '')
    out.user = body.metadata.user_id;
  if (body.service_tier === 'standard_only') out.service_tier = 'default';
  if (body.stream === true) {
    out.stream = true;
    // The Anthropic stream ends with usage, so the OpenAI one must carry it.
    out.stream_options = { include_usage: true };
  }
  return out;
}

function systemMessage(system: unknown): Message | undefined {
  if (typeof system === 'string') return system === '' ? undefined : { role: 'system', content: system };
  if (!Array.isArray(system) || system.length === 0) return undefined;
  const parts = system.map((block, j) => {
    if (isRecord(block) && block.type === 'text') return { type: 'text', text: str(block.text) };
    throw refuse(`system[${j}]`, 'only text blocks can go in an OpenAI system message');
  });
  return { role: 'system', content: parts.length === 1 ? parts[0].text : parts };
}

function convertTurn(turn: unknown, at: string): Message[] {
  if (!isRecord(turn)) throw refuse(at, 'not a message object');
  if (turn.role === 'assistant') return [assistantMessage(turn.content, `${at}.content`)];
  if (typeof turn.content === 'string') return [{ role: 'user', content: turn.content }];
  if (!Array.isArray(turn.content)) throw refuse(`${at}.content`, 'content must be a string or blocks');
  // Tool results become `tool` messages, which OpenAI wants right after the assistant's calls.
  const results: Message[] = [];
  const parts: Json[] = [];
  turn.content.forEach((block, j) => {
    const where = `${at}.content[${j}]`;
    if (isRecord(block) && block.type === 'tool_result') results.push(toolMessage(block, where));
    else parts.push(userPart(block, where));
  });
  if (parts.length === 0) return results;
  const onlyText = parts.length === 1 && parts[0].type === 'text';
  return [...results, { role: 'user', content: onlyText ? parts[0].text : parts }];
}

function userPart(block: unknown, at: string): Json {
  if (!isRecord(block)) throw refuse(at, 'not a content block');
  switch (block.type) {
    case 'text':
      return { type: 'text', text: str(block.text) };
    case 'image':
      return { type: 'image_url', image_url: { url: imageUrl(block.source, `${at}.source`) } };
    case 'document':
      return documentPart(block, at);
    default:
      throw refuse(`${at}.type`, `OpenAI chat takes no ${JSON.stringify(block.type)} block from a user`);
  }
}

/** base64 source → data URL, url source → the URL. */
function imageUrl(source: unknown, at: string): string {
  if (isRecord(source) && source.type === 'base64')
    return `data:${str(source.media_type)};base64,${str(source.data)}`;
  if (isRecord(source) && source.type === 'url') return str(source.url);
  throw refuse(at, 'only base64 and url image sources have OpenAI counterparts');
}

function documentPart(block: Json, at: string): Json {
  const source = isRecord(block.source) ? block.source : {};
  if (source.type === 'base64' && source.media_type === 'application/pdf') {
    const file: Json = { file_data: `data:application/pdf;base64,${str(source.data)}` };
    file.filename = typeof block.title === 'string' ? block.title : 'document.pdf';
    return { type: 'file', file };
  }
  if (source.type === 'text') return { type: 'text', text: str(source.data) };
  throw refuse(`${at}.source`, 'only base64 PDF and plain-text documents have OpenAI counterparts');
}

function toolMessage(block: Json, at: string): Message {
  const prefix = block.is_error === true ? TOOL_ERROR_PREFIX : '';
  let content: string | Json[];
  if (typeof block.content === 'string' || block.content === undefined) {
    content = prefix + str(block.content);
  } else if (Array.isArray(block.content)) {
    content = block.content.map((part, j) => {
      if (isRecord(part) && part.type === 'text') return { type: 'text', text: str(part.text) };
      throw refuse(`${at}.content[${j}]`, 'OpenAI tool messages hold text only');
    });
    if (prefix) content.unshift({ type: 'text', text: prefix });
  } else {
    throw refuse(`${at}.content`, 'a tool result holds a string or text blocks');
  }
  return { role: 'tool', tool_call_id: str(block.tool_use_id), content };
}

function assistantMessage(content: unknown, at: string): Message {
  if (typeof content === 'string') return { role: 'assistant', content };
  if (!Array.isArray(content)) throw refuse(at, 'content must be a string or blocks');
  let text = '';
  const calls: Json[] = [];
  content.forEach((block, j) => {
    const where = `${at}[${j}]`;
    if (!isRecord(block)) throw refuse(where, 'not a content block');
    switch (block.type) {
      case 'text':
        text += str(block.text);
        return;
      case 'tool_use':
        calls.push({
          id: str(block.id),
          type: 'function',
          function: { name: str(block.name), arguments: JSON.stringify(block.input ?? {}) },
        });
        return;
      case 'thinking':
      case 'redacted_thinking':
        // Earlier reasoning is Anthropic's to verify (signed); OpenAI chat takes none back.
        return;
      default:
        throw refuse(`${where}.type`, `OpenAI chat has no ${JSON.stringify(block.type)} block`);
    }
  });
  const message: Message = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
  if (calls.length > 0) message.tool_calls = calls;
  return message;
}

/** Tool definition fields: carried over, left out (hints), or refused. */
const TOOL_FIELDS: Readonly<Record<string, true | { ignored: string } | { refused: string }>> = {
  name: true,
  description: true,
  input_schema: true,
  strict: true,
  type: true,
  cache_control: { ignored: 'prompt-cache hint' },
  eager_input_streaming: { ignored: 'a streaming hint' },
  allowed_callers: { refused: 'OpenAI has no programmatic tool calling' },
  defer_loading: { refused: 'OpenAI has no tool search' },
  input_examples: { refused: 'OpenAI function tools take no examples' },
};

function convertTool(tool: unknown, i: number): Json {
  const at = `tools[${i}]`;
  if (!isRecord(tool) || (tool.type !== undefined && tool.type !== 'custom'))
    throw refuse(`${at}.type`, 'only custom (function) tools have an OpenAI counterpart');
  for (const field of Object.keys(tool)) {
    const rule = TOOL_FIELDS[field];
    if (tool[field] === null || tool[field] === undefined || rule === true || (rule && 'ignored' in rule))
      continue;
    throw refuse(`${at}.${field}`, rule?.refused ?? 'a tool field the translation does not know');
  }
  const fn: Json = { name: str(tool.name), parameters: isRecord(tool.input_schema) ? tool.input_schema : {} };
  if (typeof tool.description === 'string') fn.description = tool.description;
  if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function toolChoice(choice: unknown): { tool_choice?: unknown; noParallel: boolean } {
  if (choice === undefined || choice === null) return { noParallel: false };
  if (!isRecord(choice)) throw refuse('tool_choice', 'must be an object');
  const noParallel = choice.disable_parallel_tool_use === true;
  switch (choice.type) {
    case 'auto':
      return { tool_choice: 'auto', noParallel };
    case 'any':
      return { tool_choice: 'required', noParallel };
    case 'none':
      return { tool_choice: 'none', noParallel: false };
    case 'tool':
      return { tool_choice: { type: 'function', function: { name: str(choice.name) } }, noParallel };
    default:
      throw refuse('tool_choice.type', `unknown tool choice ${JSON.stringify(choice.type)}`);
  }
}

/**
 * `output_config.effort` is carried as is (both sides name the same levels); else an enabled
 * thinking budget maps through `effortForBudget`. Adaptive or disabled thinking leaves the
 * choice to the OpenAI model's default.
 */
function reasoningEffort(thinking: unknown, outputConfig: unknown): string | undefined {
  if (isRecord(outputConfig) && typeof outputConfig.effort === 'string') return outputConfig.effort;
  if (!isRecord(thinking)) return undefined;
  if (thinking.type === 'enabled')
    return effortForBudget(typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : 0);
  if (thinking.type === 'adaptive' || thinking.type === 'disabled') return undefined;
  throw refuse('thinking.type', `OpenAI has no ${JSON.stringify(thinking.type)} thinking`);
}

function responseFormat(outputConfig: unknown): Json | undefined {
  if (!isRecord(outputConfig)) return undefined;
  for (const field of Object.keys(outputConfig)) {
    if (
      field !== 'effort' &&
      field !== 'format' &&
      outputConfig[field] !== null &&
      outputConfig[field] !== undefined
    )
      throw refuse(`output_config.${field}`, 'no OpenAI counterpart');
  }
  const format = outputConfig.format;
  if (format === undefined || format === null) return undefined;
  if (isRecord(format) && format.type === 'json_schema' && isRecord(format.schema))
    return { type: 'json_schema', json_schema: { name: 'response', schema: format.schema, strict: true } };
  throw refuse('output_config.format', 'only a json_schema format has an OpenAI counterpart');
}
