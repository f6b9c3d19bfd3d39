import type { HttpRequestSpec } from './targets.js';

export interface Verified {
  status: number;
  headers: Headers;
  /** The reply's text (JSON content or the concatenated stream deltas). */
  text: string;
}

/**
 * Sends one request and checks the reply is a well-formed OpenAI chat completion (JSON or SSE),
 * so a benchmark never measures error pages. Throws saying what came back.
 */
export async function verifyChat(spec: HttpRequestSpec, stream: boolean, label: string): Promise<Verified> {
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
  const text = stream ? streamText(raw, type, fail) : jsonText(raw, type, fail);
  if (text.length === 0) fail('the reply has no content');
  return { status: res.status, headers: res.headers, text };
}

function jsonText(raw: string, type: string, fail: (why: string) => never): string {
  if (!type.includes('application/json')) fail(`expected application/json, got '${type}'`);
  let body: { choices?: Array<{ message?: { content?: unknown } }> };
  try {
    body = JSON.parse(raw);
  } catch {
    return fail('the body is not JSON');
  }
  const content = body.choices?.[0]?.message?.content;
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
  for (const event of data.slice(0, -1)) {
    let chunk: { object?: string; choices?: Array<{ delta?: { content?: unknown } }> };
    try {
      chunk = JSON.parse(event);
    } catch {
      return fail(`an event is not JSON: ${event.slice(0, 80)}`);
    }
    if (chunk.object !== 'chat.completion.chunk') fail(`unexpected event object '${chunk.object}'`);
    const delta = chunk.choices?.[0]?.delta?.content;
    if (typeof delta === 'string') text += delta;
  }
  return text;
}
