/**
 * The batch file formats.
 *
 * Input: one chat request per line, either the request body itself or OpenAI's batch shape
 * `{"custom_id": "...", "body": {...}}` (`method` and `url` are ignored). Blank lines are
 * skipped; a line's index is its 0-based line number in the file.
 *
 * Output: one JSON object per input line,
 * `{"index", "custom_id"?, "status", "response"}` or `{"index", "custom_id"?, "status", "error"}`.
 */

export interface BatchInputLine {
  index: number;
  customId?: string;
  body?: Record<string, unknown>;
  /** Set when the line is not a usable request; it gets an error line without being sent. */
  invalid?: string;
}

export interface BatchOutputRecord {
  index: number;
  custom_id?: string;
  status: number;
  response?: unknown;
  error?: { message: string; type?: string; code?: string | null };
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
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { index, invalid: `line ${index + 1} is not valid JSON: ${(error as Error).message}` };
  }
  if (!isObject(value)) return { index, invalid: `line ${index + 1} is not a JSON object` };
  const customId = typeof value.custom_id === 'string' ? value.custom_id : undefined;
  if ('body' in value) {
    if (!isObject(value.body))
      return { index, customId, invalid: `line ${index + 1}: "body" is not an object` };
    return { index, customId, body: value.body };
  }
  return { index, customId, body: value };
}

/**
 * Records already in an output file, by index (a later record for the same index wins: a
 * retried failure). A torn last line from an interrupted run is ignored, so it is redone.
 */
export function parseOutputRecords(text: string): Map<number, { record: BatchOutputRecord; line: string }> {
  const records = new Map<number, { record: BatchOutputRecord; line: string }>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isObject(value) || !Number.isInteger(value.index) || typeof value.status !== 'number') continue;
    records.set(value.index as number, { record: value as unknown as BatchOutputRecord, line });
  }
  return records;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The error object inside an OpenAI- or Anthropic-shaped error body, or a generic one. */
export function errorFromBody(status: number, body: unknown): NonNullable<BatchOutputRecord['error']> {
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
