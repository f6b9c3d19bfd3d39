/**
 * One dialect-neutral view of a chat request: what decides the mock's reply and what counts
 * as prompt tokens. OpenAI and Anthropic requests saying the same thing map to the same
 * fingerprint, so a gateway translating between dialects gets the same reply text back.
 */

export interface ToolSpec {
  name: string;
  schema: unknown;
}

export type ToolChoice = { mode: 'auto' | 'none' | 'required' } | { mode: 'named'; name: string };

export type ResponseFormat = { kind: 'json_object' } | { kind: 'json_schema'; schema: unknown };

/**
 * The end of one content block (a tool, a system block, a message block): a prompt prefix
 * Anthropic's cache may hold. `explicit` when the block carries `cache_control`.
 */
export interface BlockBoundary {
  /** Length of `fingerprint` covering the prefix (its identity). */
  fingerprintEnd: number;
  /** Number of `texts` in the prefix. */
  textsEnd: number;
  /** Messages begun inside the prefix (each adds fixed overhead tokens). */
  messagesBefore: number;
  /** Fixed-cost tokens (images) inside the prefix. */
  fixedTokensBefore: number;
  explicit: boolean;
}

export interface Conversation {
  /** Everything that decides the reply, joined with separators; its digest seeds the reply. */
  fingerprint: string;
  /** Texts that make up the prompt, in prompt order (tools, system, messages). */
  texts: string[];
  messageCount: number;
  /** Tokens not derived from text (images), added to the prompt count. */
  fixedTokens: number;
  /** Text of the last user message (without tool results): echoed in the reply. */
  lastUserText: string;
  /** Content of the last tool result, when the conversation ends with one. */
  lastToolResultText: string;
  /** True when the last message is a tool result (OpenAI `tool` role, Anthropic `tool_result`). */
  endsWithToolResult: boolean;
  lastRole: string;
  tools: ToolSpec[];
  toolChoice: ToolChoice;
  responseFormat: ResponseFormat | undefined;
  /** Anthropic only: every block boundary, in prompt order; empty for OpenAI requests. */
  boundaries: BlockBoundary[];
  /** Anthropic only: some block carries `cache_control`. */
  hasCacheControl: boolean;
}

/** The reply is a tool call when tools are offered, allowed, and a user (not a tool) spoke last. */
export function wantsToolCall(c: Conversation): boolean {
  return c.tools.length > 0 && c.toolChoice.mode !== 'none' && c.lastRole === 'user' && !c.endsWithToolResult;
}

/** The tool to call: the one named by tool_choice, else the first. */
export function chosenTool(c: Conversation): ToolSpec {
  const choice = c.toolChoice;
  if (choice.mode === 'named') return c.tools.find((t) => t.name === choice.name) ?? c.tools[0];
  return c.tools[0];
}

// Separators cannot occur in JSON-decoded text by accident often enough to matter, and keep
// ("ab","c") and ("a","bc") apart.
const FIELD = '\u0000';
const MESSAGE = '\u0001';
const SECTION = '\u0002';
const IMAGE_TOKENS = 85; // OpenAI's low-detail image cost: a fixed, plausible number.

type Json = Record<string, unknown>;

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Builds a Conversation block by block; each dialect's reader drives it (see responses-conversation.ts). */
export class ConversationBuilder {
  fingerprint = '';
  texts: string[] = [];
  messageCount = 0;
  fixedTokens = 0;
  lastUserText = '';
  lastToolResultText = '';
  endsWithToolResult = false;
  lastRole = '';
  tools: ToolSpec[] = [];
  boundaries: BlockBoundary[] = [];
  hasCacheControl = false;
  #userText = '';

  tool(name: string, description: string, schema: unknown): void {
    const schemaJson = schema === undefined ? '' : JSON.stringify(schema);
    this.fingerprint += `${SECTION}tool${FIELD}${name}${FIELD}${description}${FIELD}${schemaJson}`;
    this.texts.push(`${name}\n${description}\n${schemaJson}`);
    this.tools.push({ name, schema });
  }

  beginMessage(role: string): void {
    this.#finishMessage();
    this.messageCount++;
    this.lastRole = role;
    this.endsWithToolResult = false;
    this.fingerprint += `${MESSAGE}${role}${FIELD}`;
  }

  text(text: string): void {
    if (text === '') return;
    this.fingerprint += text + FIELD;
    this.texts.push(text);
    if (this.lastRole === 'user')
      this.#userText = this.#userText === '' ? text : `${this.#userText}\n${text}`;
  }

  image(identity: string): void {
    this.fingerprint += `[image]${identity}${FIELD}`;
    this.fixedTokens += IMAGE_TOKENS;
  }

  toolCall(name: string, argumentsJson: string): void {
    this.fingerprint += `[call]${name}${FIELD}${argumentsJson}${FIELD}`;
    this.texts.push(name, argumentsJson);
  }

  toolResult(text: string): void {
    this.fingerprint += `[result]${text}${FIELD}`;
    if (text !== '') this.texts.push(text);
    this.lastToolResultText = text;
    this.endsWithToolResult = true;
  }

  /** Mark the end of a content block (Anthropic), explicit when it carries cache_control. */
  boundary(explicit: boolean): void {
    if (explicit) this.hasCacheControl = true;
    this.boundaries.push({
      fingerprintEnd: this.fingerprint.length,
      textsEnd: this.texts.length,
      messagesBefore: this.messageCount,
      fixedTokensBefore: this.fixedTokens,
      explicit,
    });
  }

  finish(toolChoice: ToolChoice, responseFormat: ResponseFormat | undefined): Conversation {
    this.#finishMessage();
    this.fingerprint += `${SECTION}choice${FIELD}${toolChoice.mode}${FIELD}${toolChoice.mode === 'named' ? toolChoice.name : ''}`;
    if (responseFormat) {
      const schema = responseFormat.kind === 'json_schema' ? JSON.stringify(responseFormat.schema) : '';
      this.fingerprint += `${SECTION}format${FIELD}${responseFormat.kind}${FIELD}${schema}`;
    }
    return {
      fingerprint: this.fingerprint,
      texts: this.texts,
      messageCount: this.messageCount,
      fixedTokens: this.fixedTokens,
      lastUserText: this.lastUserText,
      lastToolResultText: this.lastToolResultText,
      endsWithToolResult: this.endsWithToolResult,
      lastRole: this.lastRole,
      tools: this.tools,
      toolChoice,
      responseFormat,
      boundaries: this.boundaries,
      hasCacheControl: this.hasCacheControl,
    };
  }

  #finishMessage(): void {
    if (this.lastRole === 'user' && this.#userText !== '') this.lastUserText = this.#userText;
    this.#userText = '';
  }
}

// ---------------------------------------------------------------- OpenAI Chat Completions

export function openAIConversation(body: Json): Conversation {
  const b = new ConversationBuilder();
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (!isRecord(t) || !isRecord(t.function)) continue;
      const fn = t.function;
      if (typeof fn.name === 'string') b.tool(fn.name, str(fn.description), fn.parameters);
    }
  }
  let previousRole = '';
  for (const m of body.messages as unknown[]) {
    if (!isRecord(m)) continue;
    const role = m.role === 'developer' ? 'system' : str(m.role);
    if (role === 'tool') {
      // Consecutive tool messages are one user turn of tool results, as Anthropic spells
      // them, so a translated conversation keeps its fingerprint.
      if (previousRole !== 'tool') b.beginMessage('user');
      b.toolResult(openAIContentText(m.content));
      previousRole = role;
      continue;
    }
    previousRole = role;
    b.beginMessage(role);
    openAIContent(b, m.content);
    if (role === 'assistant' && Array.isArray(m.tool_calls)) {
      for (const call of m.tool_calls) {
        if (isRecord(call) && isRecord(call.function))
          b.toolCall(str(call.function.name), str(call.function.arguments));
      }
    }
  }
  return b.finish(openAIToolChoice(body.tool_choice), openAIResponseFormat(body.response_format));
}

function openAIContent(b: ConversationBuilder, content: unknown): void {
  if (typeof content === 'string') {
    b.text(content);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const part of content) {
    if (!isRecord(part)) continue;
    if (part.type === 'text') b.text(str(part.text));
    else if (part.type === 'refusal') b.text(str(part.refusal));
    else if (part.type === 'image_url' && isRecord(part.image_url))
      b.image(str(part.image_url.url).slice(0, 256));
  }
}

function openAIContentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) if (isRecord(part) && part.type === 'text') out += str(part.text);
  return out;
}

function openAIToolChoice(choice: unknown): ToolChoice {
  if (choice === 'none' || choice === 'required') return { mode: choice };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { mode: 'named', name: choice.function.name };
  }
  return { mode: 'auto' };
}

function openAIResponseFormat(format: unknown): ResponseFormat | undefined {
  if (!isRecord(format)) return undefined;
  if (format.type === 'json_object') return { kind: 'json_object' };
  if (format.type === 'json_schema' && isRecord(format.json_schema)) {
    return { kind: 'json_schema', schema: format.json_schema.schema };
  }
  return undefined;
}

// ---------------------------------------------------------------- Anthropic Messages

export function anthropicConversation(body: Json): Conversation {
  const b = new ConversationBuilder();
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (!isRecord(t) || typeof t.name !== 'string') continue;
      b.tool(t.name, str(t.description), t.input_schema);
      b.boundary(isRecord(t.cache_control));
    }
  }
  if (typeof body.system === 'string' || Array.isArray(body.system)) {
    b.beginMessage('system');
    anthropicContent(b, body.system);
  }
  for (const m of body.messages as unknown[]) {
    if (!isRecord(m)) continue;
    b.beginMessage(str(m.role));
    anthropicContent(b, m.content);
  }
  return b.finish(anthropicToolChoice(body.tool_choice), undefined);
}

function anthropicContent(b: ConversationBuilder, content: unknown): void {
  if (typeof content === 'string') {
    b.text(content);
    b.boundary(false);
    return;
  }
  if (!Array.isArray(content)) return;
  for (const block of content) {
    if (!isRecord(block)) continue;
    switch (block.type) {
      case 'text':
        b.text(str(block.text));
        break;
      case 'image':
      case 'document':
        b.image(isRecord(block.source) ? str(block.source.data).slice(0, 256) + str(block.source.url) : '');
        break;
      case 'tool_use':
        b.toolCall(str(block.name), JSON.stringify(block.input ?? {}));
        break;
      case 'tool_result':
        b.toolResult(anthropicResultText(block.content));
        break;
    }
    b.boundary(isRecord(block.cache_control));
  }
}

function anthropicResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const block of content) if (isRecord(block) && block.type === 'text') out += str(block.text);
  return out;
}

function anthropicToolChoice(choice: unknown): ToolChoice {
  if (!isRecord(choice)) return { mode: 'auto' };
  if (choice.type === 'none') return { mode: 'none' };
  if (choice.type === 'any') return { mode: 'required' };
  if (choice.type === 'tool' && typeof choice.name === 'string') return { mode: 'named', name: choice.name };
  return { mode: 'auto' };
}
