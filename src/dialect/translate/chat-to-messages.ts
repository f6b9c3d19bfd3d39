/**
 * An OpenAI chat-completions request → the Anthropic Messages request that asks the same
 * thing. Pure: plain JSON in, plain JSON out; what cannot be honoured throws a 400 naming it.
 * The mapping is documented row by row in docs/translation.md.
 */
import { checkFields, OPENAI_CHAT_TO_MESSAGES } from './fields.js';
import { isRecord, type Json, str, untranslatable } from './json.js';

export interface ChatToMessagesOptions {
  /** Anthropic requires max_tokens; used when the client set neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens: number;
}

const refuse = (param: string, why: string) => untranslatable('anthropic', param, why);

/** `reasoning_effort` → Anthropic extended-thinking budget (tokens). `none` turns thinking off. */
export const THINKING_BUDGET_BY_EFFORT: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 24576,
  max: 32768,
};
/** Anthropic's smallest thinking budget. */
export const MIN_THINKING_BUDGET = 1024;

/** Image media types Anthropic accepts in a base64 source. */
const IMAGE_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

type Block = Json;
interface Turn {
  role: 'user' | 'assistant';
  content: string | Block[];
}

export function chatToMessagesRequest(body: Json, opts: ChatToMessagesOptions): Json {
  checkFields(body, OPENAI_CHAT_TO_MESSAGES, 'anthropic');
  const out: Json = { model: body.model };
  const { system, turns } = convertMessages(body.messages);
  const clientMax = positive(body.max_completion_tokens) ?? positive(body.max_tokens);
  const thinking = thinkingFor(body.reasoning_effort, clientMax);
  out.max_tokens =
    clientMax ?? opts.defaultMaxTokens + (thinking?.type === 'enabled' ? thinking.budget_tokens : 0);
  if (thinking?.type === 'enabled' && thinking.budget_tokens >= (out.max_tokens as number)) {
    thinking.budget_tokens = (out.max_tokens as number) - 1;
  }
  if (system !== undefined) out.system = system;
  out.messages = turns;
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map(convertTool);
    const choice = toolChoice(body.tool_choice, body.parallel_tool_calls === false);
    if (choice) out.tool_choice = choice;
  } else if (
    body.tool_choice !== undefined &&
    body.tool_choice !== null &&
    body.tool_choice !== 'none' &&
    body.tool_choice !== 'auto'
  ) {
    throw refuse('tool_choice', 'it names a tool choice but the request offers no tools');
  }
  const stop = stopSequences(body.stop);
  if (stop) out.stop_sequences = stop;
  if (typeof body.temperature === 'number') {
    if (body.temperature > 1) throw refuse('temperature', 'Anthropic accepts 0 to 1');
    out.temperature = body.temperature;
  }
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (thinking) out.thinking = thinking;
  const format = outputFormat(body.response_format);
  if (format) out.output_config = { format };
  const user = str(body.user) || str(body.safety_identifier);
  if (user) out.metadata = { user_id: user };
  if (body.stream === true) out.stream = true;
  return out;
}

const positive = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;

type Thinking = { type: 'enabled'; budget_tokens: number } | { type: 'disabled' };

function thinkingFor(effort: unknown, clientMax: number | undefined): Thinking | undefined {
  if (effort === undefined || effort === null) return undefined;
  if (effort === 'none') return { type: 'disabled' };
  const budget = typeof effort === 'string' ? THINKING_BUDGET_BY_EFFORT[effort] : undefined;
  if (budget === undefined) throw refuse('reasoning_effort', `unknown effort ${JSON.stringify(effort)}`);
  if (clientMax !== undefined && clientMax <= MIN_THINKING_BUDGET) {
    throw refuse(
      'reasoning_effort',
      `Anthropic thinking needs a budget of at least ${MIN_THINKING_BUDGET} tokens below max_tokens; raise max_completion_tokens above ${MIN_THINKING_BUDGET}`,
    );
  }
  return { type: 'enabled', budget_tokens: budget };
}

function convertMessages(messages: unknown): { system: string | Block[] | undefined; turns: Turn[] } {
  const systemBlocks: Block[] = [];
  const turns: Turn[] = [];
  const list = Array.isArray(messages) ? messages : [];
  const push = (role: Turn['role'], content: string | Block[]) => {
    const last = turns[turns.length - 1];
    // Anthropic wants user and assistant turns to alternate: consecutive ones become one turn
    // (several tool results, then what the user said next).
    if (last && last.role === role) last.content = [...asBlocks(last.content), ...asBlocks(content)];
    else turns.push({ role, content });
  };
  list.forEach((m, i) => {
    const at = `messages[${i}]`;
    if (!isRecord(m)) throw refuse(at, 'not a message object');
    checkMessageFields(m, at);
    switch (m.role) {
      case 'system':
      case 'developer':
        // Anthropic has one system prompt: every system/developer message joins it, in order.
        systemBlocks.push(...textBlocks(m.content, `${at}.content`));
        return;
      case 'user':
        push('user', userContent(m.content, `${at}.content`));
        return;
      case 'assistant':
        push('assistant', assistantContent(m, at));
        return;
      case 'tool':
        push('user', [toolResult(m, at)]);
        return;
      default:
        throw refuse(
          `${at}.role`,
          `role ${JSON.stringify(m.role)} has no Anthropic counterpart; send tool messages`,
        );
    }
  });
  const system =
    systemBlocks.length === 0
      ? undefined
      : systemBlocks.length === 1
        ? str(systemBlocks[0].text)
        : systemBlocks;
  return { system, turns };
}

/** Per-message fields: each is carried over by the converters below or refused here. */
const MESSAGE_FIELDS: Readonly<Record<string, string | true>> = {
  role: true,
  content: true,
  tool_calls: true,
  tool_call_id: true,
  refusal: true,
  name: 'Anthropic messages carry no participant name',
  audio: 'Anthropic cannot take back an audio answer',
  function_call: 'deprecated by OpenAI; send tool_calls',
};

function checkMessageFields(m: Json, at: string): void {
  for (const field of Object.keys(m)) {
    if (m[field] === null || m[field] === undefined) continue;
    const rule = MESSAGE_FIELDS[field];
    if (rule === true) continue;
    throw refuse(`${at}.${field}`, rule ?? 'a message field the translation does not know');
  }
}

function asBlocks(content: string | Block[]): Block[] {
  if (typeof content !== 'string') return content;
  return content === '' ? [] : [{ type: 'text', text: content }];
}

function textBlocks(content: unknown, at: string): Block[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.map((part, j) => {
    if (isRecord(part) && part.type === 'text') return { type: 'text', text: str(part.text) };
    throw refuse(`${at}[${j}]`, 'only text parts can go here');
  });
}

function userContent(content: unknown, at: string): string | Block[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw refuse(at, 'content must be a string or an array of parts');
  return content.map((part, j) => contentPart(part, `${at}[${j}]`));
}

function contentPart(part: unknown, at: string): Block {
  if (!isRecord(part)) throw refuse(at, 'not a content part');
  switch (part.type) {
    case 'text':
      return { type: 'text', text: str(part.text) };
    case 'image_url':
      return imageBlock(part.image_url, `${at}.image_url`);
    case 'file':
      return documentBlock(part.file, `${at}.file`);
    default:
      throw refuse(`${at}.type`, `Anthropic takes no ${JSON.stringify(part.type)} part`);
  }
}

/** A data URL becomes a base64 source, an http(s) URL a url source. `detail` has no counterpart (Anthropic sizes images itself). */
function imageBlock(image: unknown, at: string): Block {
  const url = isRecord(image) ? str(image.url) : '';
  const data = DATA_URL.exec(url);
  if (data) {
    if (!IMAGE_TYPES.has(data[1]))
      throw refuse(`${at}.url`, `Anthropic takes jpeg, png, gif and webp images, not ${data[1]}`);
    return { type: 'image', source: { type: 'base64', media_type: data[1], data: data[2] } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw refuse(`${at}.url`, 'an image must be a base64 data URL or an http(s) URL');
}

function documentBlock(file: unknown, at: string): Block {
  const f = isRecord(file) ? file : {};
  if (f.file_id !== undefined && f.file_id !== null)
    throw refuse(`${at}.file_id`, 'OpenAI file ids mean nothing to Anthropic; send file_data');
  const [, mediaType, payload] = DATA_URL.exec(str(f.file_data)) ?? [];
  if (mediaType !== 'application/pdf')
    throw refuse(`${at}.file_data`, 'Anthropic takes files as base64 PDF data URLs');
  const block: Block = { type: 'document', source: { type: 'base64', media_type: mediaType, data: payload } };
  if (typeof f.filename === 'string') block.title = f.filename;
  return block;
}

function assistantContent(m: Json, at: string): string | Block[] {
  const blocks: Block[] = [];
  if (typeof m.content === 'string') {
    if (m.content !== '') blocks.push({ type: 'text', text: m.content });
  } else if (Array.isArray(m.content)) {
    m.content.forEach((part, j) => {
      if (isRecord(part) && part.type === 'text') blocks.push({ type: 'text', text: str(part.text) });
      else if (isRecord(part) && part.type === 'refusal')
        blocks.push({ type: 'text', text: str(part.refusal) });
      else throw refuse(`${at}.content[${j}]`, 'an assistant turn holds only text and refusal parts');
    });
  }
  if (typeof m.refusal === 'string' && m.refusal !== '') blocks.push({ type: 'text', text: m.refusal });
  if (Array.isArray(m.tool_calls)) {
    m.tool_calls.forEach((call, j) => {
      blocks.push(toolUse(call, `${at}.tool_calls[${j}]`));
    });
  }
  // A plain text turn stays a string, as a client of either dialect would write it.
  if (blocks.length === 1 && blocks[0].type === 'text' && typeof m.content === 'string') return m.content;
  return blocks;
}

function toolUse(call: unknown, at: string): Block {
  if (!isRecord(call) || call.type !== 'function' || !isRecord(call.function))
    throw refuse(at, 'only function tool calls have an Anthropic counterpart');
  const args = str(call.function.arguments);
  let input: unknown;
  try {
    input = args.trim() === '' ? {} : JSON.parse(args);
  } catch {
    throw refuse(
      `${at}.function.arguments`,
      'Anthropic needs tool arguments as a JSON object; these are not JSON',
    );
  }
  if (!isRecord(input))
    throw refuse(`${at}.function.arguments`, 'Anthropic needs tool arguments as a JSON object');
  return { type: 'tool_use', id: str(call.id), name: str(call.function.name), input };
}

function toolResult(m: Json, at: string): Block {
  const block: Block = { type: 'tool_result', tool_use_id: str(m.tool_call_id) };
  if (typeof m.content === 'string') block.content = m.content;
  else block.content = textBlocks(m.content, `${at}.content`);
  return block;
}

/** Tool definition fields: carried over, or refused. */
function convertTool(tool: unknown, i: number): Block {
  const at = `tools[${i}]`;
  if (!isRecord(tool) || tool.type !== 'function' || !isRecord(tool.function))
    throw refuse(`${at}.type`, 'only function tools have an Anthropic counterpart');
  const fn = tool.function;
  const out: Block = {
    name: str(fn.name),
    input_schema: isRecord(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
  };
  if (typeof fn.description === 'string') out.description = fn.description;
  if (typeof fn.strict === 'boolean') out.strict = fn.strict;
  return out;
}

function toolChoice(choice: unknown, noParallel: boolean): Block | undefined {
  const parallel = noParallel ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null || choice === 'auto')
    return noParallel ? { type: 'auto', ...parallel } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...parallel };
  if (isRecord(choice) && choice.type === 'function' && isRecord(choice.function))
    return { type: 'tool', name: str(choice.function.name), ...parallel };
  throw refuse('tool_choice', 'only auto, none, required and a named function have Anthropic counterparts');
}

function stopSequences(stop: unknown): string[] | undefined {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop) && stop.length > 0) return stop.map(str);
  return undefined;
}

/** `json_schema` → Anthropic structured output; `json_object` has no counterpart. */
function outputFormat(format: unknown): Block | undefined {
  if (!isRecord(format) || format.type === 'text') return undefined;
  if (format.type === 'json_schema' && isRecord(format.json_schema) && isRecord(format.json_schema.schema))
    return { type: 'json_schema', schema: format.json_schema.schema };
  throw refuse(
    'response_format',
    format.type === 'json_object'
      ? 'Anthropic has no JSON mode without a schema; send a json_schema response_format'
      : 'only text and json_schema have Anthropic counterparts',
  );
}
