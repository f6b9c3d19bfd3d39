import type { Dialect, RouteName } from '../pipeline/types.js';

/**
 * The batch file formats.
 *
 * Input, one request per line, either
 * - the request body itself (a chat completion request), or
 * - OpenAI's batch shape `{"custom_id", "method": "POST", "url", "body"}`, where `url` is
 *   `/v1/chat/completions`, `/v1/embeddings` or `/v1/messages` (Anthropic). A line with a
 *   `body` but no `url` is a chat request.
 * Blank lines are skipped; a line's index is its 0-based line number in the file.
 *
 * Output, one JSON object per input line, in one of two formats:
 * - `simple`: `{"index", "custom_id"?, "status", "response"}` or `{..., "status", "error"}`;
 * - `openai`: OpenAI's batch output, `{"id", "custom_id", "response": {"status_code",
 *   "request_id", "body"}, "error": null}`; a line that got no reply at all (invalid, or the
 *   gateway failed before answering) has `"response": null, "error": {"code", "message"}`.
 *   The id is `batch_req_line_<line number>`, so a resumed run can match lines without
 *   trusting custom_ids to be unique.
 * `auto` picks `openai` when every line is in OpenAI's batch shape, else `simple`.
 */

export interface BatchTarget {
  dialect: Dialect;
  route: RouteName;
}

export const BATCH_URLS: Readonly<Record<string, BatchTarget>> = Object.freeze({
  '/v1/chat/completions': { dialect: 'openai', route: 'chat' },
  '/v1/embeddings': { dialect: 'openai', route: 'embeddings' },
  '/v1/messages': { dialect: 'anthropic', route: 'messages' },
});

const CHAT: BatchTarget = BATCH_URLS['/v1/chat/completions'];

export interface BatchInputLine {
  index: number;
  customId?: string;
  body?: Record<string, unknown>;
  /** Where the line goes: chat unless an OpenAI-shaped line names another url. */
  target: BatchTarget;
  /** The line has OpenAI's batch shape (custom_id, url and body). */
  openaiShape: boolean;
  /** Set when the line is not a usable request; it gets an error line without being sent. */
  invalid?: string;
}

export type OutputFormat = 'simple' | 'openai';

export interface BatchLineError {
  message: string;
  type?: string;
  code?: string | null;
}

/** What came of one line: a reply from the gateway (any status), or none at all. */
export type LineOutcome =
  | { kind: 'reply'; status: number; body: unknown; requestId?: string }
  | { kind: 'failed'; status: number; error: BatchLineError };

/** A record already in the output file. */
export interface FinishedLine {
  line: string;
  failed: boolean;
}

export function parseInputLines(text: string): BatchInputLine[] {
  const lines: BatchInputLine[] = [];
  const raw = text.split('\n');
  for (let index = 0; index < raw.length; index++) {
    const line = raw[index].trim();
    if (line === '') continue;
    lines.push(parseInputLine(line, index));
  }
  return lines;
}

function parseInputLine(line: string, index: number): BatchInputLine {
  const base = { index, target: CHAT, openaiShape: false };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ...base, invalid: `line ${index + 1} is not valid JSON: ${(error as Error).message}` };
  }
  if (!isObject(value)) return { ...base, invalid: `line ${index + 1} is not a JSON object` };
  const customId = typeof value.custom_id === 'string' ? value.custom_id : undefined;
  if (!('body' in value)) return { ...base, customId, body: value };
  const openaiShape = customId !== undefined && 'url' in value;
  const shaped = { ...base, customId, openaiShape };
  if (!isObject(value.body)) return { ...shaped, invalid: `line ${index + 1}: "body" is not an object` };
  if (value.method !== undefined && value.method !== 'POST')
    return { ...shaped, invalid: `line ${index + 1}: "method" must be POST` };
  if (value.url === undefined) return { ...shaped, body: value.body };
  const target = typeof value.url === 'string' ? BATCH_URLS[value.url] : undefined;
  if (target === undefined) {
    return {
      ...shaped,
      invalid: `line ${index + 1}: "url" must be one of ${Object.keys(BATCH_URLS).join(', ')}`,
    };
  }
  return { ...shaped, target, body: value.body };
}

/** `auto`: OpenAI's output format for a file written entirely in OpenAI's batch shape. */
export function chooseOutputFormat(inputs: BatchInputLine[], asked: OutputFormat | 'auto'): OutputFormat {
  if (asked !== 'auto') return asked;
  return inputs.length > 0 && inputs.every((item) => item.openaiShape) ? 'openai' : 'simple';
}

export function formatOutputRecord(
  format: OutputFormat,
  item: BatchInputLine,
  outcome: LineOutcome,
): Record<string, unknown> {
  if (format === 'openai') {
    const ids = { id: openaiRecordId(item.index), custom_id: item.customId ?? null };
    if (outcome.kind === 'failed') {
      return {
        ...ids,
        response: null,
        error: { code: outcome.error.code ?? null, message: outcome.error.message },
      };
    }
    return {
      ...ids,
      response: { status_code: outcome.status, request_id: outcome.requestId ?? null, body: outcome.body },
      error: null,
    };
  }
  const ids =
    item.customId === undefined ? { index: item.index } : { index: item.index, custom_id: item.customId };
  if (outcome.kind === 'failed') return { ...ids, status: outcome.status, error: outcome.error };
  if (outcome.status >= 400)
    return { ...ids, status: outcome.status, error: errorFromBody(outcome.status, outcome.body) };
  return { ...ids, status: outcome.status, response: outcome.body };
}

const OPENAI_ID = /^batch_req_line_(\d+)$/;
const openaiRecordId = (index: number) => `batch_req_line_${index + 1}`;

/**
 * Records already in an output file, by input index (a later record for the same index wins:
 * a retried failure). A torn last line from an interrupted run is ignored, so it is redone.
 * Throws when the file holds records of another format or for another input.
 */
export function readFinishedLines(
  text: string,
  format: OutputFormat,
  inputs: BatchInputLine[],
): Map<number, FinishedLine> {
  const byIndex = new Map(inputs.map((item) => [item.index, item]));
  const finished = new Map<number, FinishedLine>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    const record = isObject(value) ? readRecord(value, format) : undefined;
    if (record === undefined) {
      throw new Error(
        `the output file holds a line that is not a ${format}-format batch result; ` +
          'use another output file, delete it, or pick its format with --output-format',
      );
    }
    const item = byIndex.get(record.index);
    if (item === undefined || record.customId !== item.customId) {
      throw new Error(
        `the output file already holds a result (index ${record.index}) that does not match the input; ` +
          'use another output file or delete it',
      );
    }
    finished.set(record.index, { line, failed: record.failed });
  }
  return finished;
}

function readRecord(
  value: Record<string, unknown>,
  format: OutputFormat,
): { index: number; customId?: string; failed: boolean } | undefined {
  const customId = typeof value.custom_id === 'string' ? value.custom_id : undefined;
  if (format === 'simple') {
    if (!Number.isInteger(value.index) || typeof value.status !== 'number') return undefined;
    return { index: value.index as number, customId, failed: value.error !== undefined };
  }
  const match = typeof value.id === 'string' ? OPENAI_ID.exec(value.id) : null;
  if (match === null || !('response' in value)) return undefined;
  const response = value.response;
  const failed =
    (value.error !== null && value.error !== undefined) ||
    !isObject(response) ||
    typeof response.status_code !== 'number' ||
    response.status_code >= 400;
  return { index: Number(match[1]) - 1, customId, failed };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The error object inside an OpenAI- or Anthropic-shaped error body, or a generic one. */
export function errorFromBody(status: number, body: unknown): BatchLineError {
  if (isObject(body) && isObject(body.error)) {
    const e = body.error;
    return {
      message: typeof e.message === 'string' ? e.message : `upstream answered ${status}`,
      type: typeof e.type === 'string' ? e.type : undefined,
      code: typeof e.code === 'string' ? e.code : undefined,
    };
  }
  return { message: `gateway answered ${status}` };
}
