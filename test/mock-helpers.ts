import { type SseEvent, SseParser } from '../src/dialect/sse.js';

// biome-ignore lint/suspicious/noExplicitAny: test bodies are asserted field by field; typing every provider shape here would only restate the mock.
export type Body = any;

/** POST JSON to the mock and return status, headers and parsed (or raw) body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Body; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Body;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** POST a streaming request and collect its SSE events. */
export async function postStream(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; events: SseEvent[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const parser = new SseParser();
  const events: SseEvent[] = [];
  if (res.body === null) throw new Error('no body');
  for await (const chunk of res.body) events.push(...parser.feed(chunk));
  events.push(...parser.end());
  return { status: res.status, headers: res.headers, events };
}

export const userChat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content }],
  ...extra,
});

export const userMessage = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'claude-haiku-4-5',
  max_tokens: 256,
  messages: [{ role: 'user', content }],
  ...extra,
});

export const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: {
    type: 'object',
    properties: {
      city: { type: 'string' },
      days: { type: 'integer', minimum: 1, maximum: 7 },
      unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    },
    required: ['city', 'days', 'unit'],
  },
};
