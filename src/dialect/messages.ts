/**
 * Read-only views of chat bodies in both dialects: the text a message carries, the last user
 * turn, where turns start. Counting, compression and routing share these so that each reads a
 * message the same way. Nothing here changes a body.
 */

/** A chat message as it arrives (OpenAI or Anthropic); fields are read defensively. */
export type ChatMessage = Record<string, unknown> & { role?: unknown; content?: unknown };

export type ContentBlock = Record<string, unknown> & { type?: unknown };

export function messagesOf(body: Record<string, unknown>): ChatMessage[] {
  return Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
}

/** Text of a content value: a string, or the text-bearing blocks of a block list. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const block of content as ContentBlock[]) {
    const text = blockText(block);
    if (text) out = out ? `${out}\n${text}` : text;
  }
  return out;
}

/** Text a block contributes to the prompt (images and binary documents contribute none). */
export function blockText(block: ContentBlock): string {
  if (!block || typeof block !== 'object') return '';
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' ? block.text : '';
    case 'refusal':
      return typeof block.refusal === 'string' ? block.refusal : '';
    case 'thinking':
      return typeof block.thinking === 'string' ? block.thinking : '';
    case 'tool_use':
      return `${String(block.name ?? '')} ${JSON.stringify(block.input ?? {})}`;
    case 'tool_result':
      return contentText(block.content);
    case 'document': {
      const source = block.source as { type?: string; data?: unknown; content?: unknown } | undefined;
      if (source?.type === 'text' && typeof source.data === 'string') return source.data;
      if (source?.type === 'content') return contentText(source.content);
      return '';
    }
    default:
      return '';
  }
}

/** Number of image-like blocks (priced by the provider per image, not per character). */
export function countImages(content: unknown): { images: number; lowDetail: number } {
  let images = 0;
  let lowDetail = 0;
  if (!Array.isArray(content)) return { images, lowDetail };
  for (const block of content as ContentBlock[]) {
    if (block?.type === 'image_url') {
      images++;
      const detail = (block.image_url as { detail?: string } | undefined)?.detail;
      if (detail === 'low') lowDetail++;
    } else if (block?.type === 'image') images++;
    else if (block?.type === 'tool_result') {
      const inner = countImages(block.content);
      images += inner.images;
      lowDetail += inner.lowDetail;
    }
  }
  return { images, lowDetail };
}

/** The system prompt's text as OpenAI chat carries it: its system/developer messages. */
export function systemMessagesText(body: Record<string, unknown>): string {
  let out = '';
  for (const m of messagesOf(body)) {
    if (isSystemRole(m.role)) out = out ? `${out}\n${contentText(m.content)}` : contentText(m.content);
  }
  return out;
}

export const isSystemRole = (role: unknown): boolean => role === 'system' || role === 'developer';

/**
 * True when `m` opens a new conversational turn: a user message that is not merely carrying
 * tool results back (Anthropic sends tool results as user messages). Cutting a history only at
 * turn starts is what keeps a tool call and its result together.
 */
export function isTurnStart(m: ChatMessage): boolean {
  if (m.role !== 'user') return false;
  if (!Array.isArray(m.content)) return true;
  return !(m.content as ContentBlock[]).some((b) => b?.type === 'tool_result');
}

/** Text of the last user turn (what routing looks at). */
export function lastUserText(body: Record<string, unknown>): string {
  const messages = messagesOf(body);
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'user') {
      const text = contentText(m.content);
      if (text || isTurnStart(m)) return text;
    }
  }
  return '';
}
