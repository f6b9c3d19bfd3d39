import type { HttpRequestSpec } from './targets.js';

export interface Verified {
  status: number;
  headers: Headers;
  /** The reply's text (JSON content or the concatenated stream deltas). */
  text: string;
  /** The reply's id (a stream's first event), which names the upstream dialect that made it. */
  id: string;
}

/**
 * Sends one request and checks the reply is a well-formed OpenAI chat completion (JSON or SSE),
 * or with `dialect: 'anthropic'` an Anthropic message, so a benchmark never measures error
 * pages. A translated call must pass the chat checks like any other. Throws saying what came back.
 */
export async function verifyChat(
  spec: HttpRequestSpec,
  stream: boolean,
  label: string,
  dialect: 'openai' | 'anthropic' = 'openai',
): Promise<Verified> {
  const res = await fetch(spec.url, {
    method: spec.method,
    headers: spec.headers,
    body: spec.nextBody?.() ?? spec.body,
    signal: AbortSignal.timeout(10_000),
  });
  const raw = await res.text();
  const fail = (why: string): never => {
    throw new Error(`${label}: ${why}. Status ${res.status}, body: ${raw.slice(0, 400)}`);
  };
  if (res.status !== 200) fail('expected status 200');
  const type = res.headers.get('content-type') ?? '';
  const text =
    dialect === 'anthropic'
      ? stream
        ? messageStreamText(raw, type, fail)
        : messageText(raw, type, fail)
      : stream
        ? streamText(raw, type, fail)
        : jsonText(raw, type, fail);
  if (text.length === 0) fail('the reply has no content');
  return { status: res.status, headers: res.headers, text, id: replyId(raw, stream) };
}

/** Called after the shape checks, so the body (or the first data event) is known to be JSON. */
function replyId(raw: string, stream: boolean): string {
  const json = stream
    ? (raw
        .split(/\r?\n/)
        .find((line) => line.startsWith('data:'))
        ?.slice(5) ?? '{}')
    : raw;
  const parsed = JSON.parse(json) as { id?: unknown; message?: { id?: unknown } };
  const id = parsed.id ?? parsed.message?.id;
  return typeof id === 'string' ? id : '';
}

function jsonText(raw: string, type: string, fail: (why: string) => never): string {
  if (!type.includes('application/json')) fail(`expected application/json, got '${type}'`);
  let body: {
    object?: unknown;
    choices?: Array<{ message?: { role?: unknown; content?: unknown }; finish_reason?: unknown }>;
  };
  try {
    body = JSON.parse(raw);
  } catch {
    return fail('the body is not JSON');
  }
  if (body.object !== 'chat.completion') fail(`expected object 'chat.completion', got '${body.object}'`);
  const choice = body.choices?.[0];
  if (choice?.message?.role !== 'assistant') fail('choices[0].message.role is not assistant');
  if (typeof choice?.finish_reason !== 'string') fail('no choices[0].finish_reason');
  const content = choice?.message?.content;
  if (typeof content !== 'string') fail('no choices[0].message.content');
  return content as string;
}

function streamText(raw: string, type: string, fail: (why: string) => never): string {
  if (!type.includes('text/event-stream')) fail(`expected text/event-stream, got '${type}'`);
  const data = raw
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim());
  if (data.at(-1) !== '[DONE]') fail('the stream does not end with data: [DONE]');
  let text = '';
  let finished = false;
  for (const event of data.slice(0, -1)) {
    let chunk: {
      object?: string;
      choices?: Array<{ delta?: { content?: unknown }; finish_reason?: unknown }>;
    };
    try {
      chunk = JSON.parse(event);
    } catch {
      return fail(`an event is not JSON: ${event.slice(0, 80)}`);
    }
    if (chunk.object !== 'chat.completion.chunk') fail(`unexpected event object '${chunk.object}'`);
    const delta = chunk.choices?.[0]?.delta?.content;
    if (typeof delta === 'string') text += delta;
    if (typeof chunk.choices?.[0]?.finish_reason === 'string') finished = true;
  }
  if (!finished) fail('no chunk carries a finish_reason');
  return text;
}

function messageText(raw: string, type: string, fail: (why: string) => never): string {
  if (!type.includes('application/json')) fail(`expected application/json, got '${type}'`);
  let body: { type?: unknown; role?: unknown; content?: Array<{ type?: unknown; text?: unknown }> };
  try {
    body = JSON.parse(raw);
  } catch {
    return fail('the body is not JSON');
  }
  if (body.type !== 'message' || body.role !== 'assistant') fail('expected an assistant message');
  const text = body.content?.find((block) => block.type === 'text')?.text;
  if (typeof text !== 'string') fail('no text content block');
  return text as string;
}

/** Anthropic's stream: typed events from message_start to message_stop, text in content_block_delta. */
function messageStreamText(raw: string, type: string, fail: (why: string) => never): string {
  if (!type.includes('text/event-stream')) fail(`expected text/event-stream, got '${type}'`);
  const events = raw
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => {
      try {
        return JSON.parse(line.slice(5)) as { type?: unknown; delta?: { type?: unknown; text?: unknown } };
      } catch {
        return fail(`an event is not JSON: ${line.slice(0, 80)}`);
      }
    });
  if (events[0]?.type !== 'message_start') fail('the stream does not start with message_start');
  if (events.at(-1)?.type !== 'message_stop') fail('the stream does not end with message_stop');
  let text = '';
  for (const event of events) {
    if (event.type === 'content_block_delta' && event.delta?.type === 'text_delta') {
      if (typeof event.delta.text === 'string') text += event.delta.text;
    }
  }
  return text;
}
