import { checkInteger, type Json, prepareChat, type Rendered } from './chat-request.js';
import { openAIConversation } from './conversation.js';
import type { ErrorSpec } from './errors.js';
import { newId } from './ids.js';
import { planReply, type TextReply } from './reply-plan.js';
import { tokensOf } from './tokens.js';

/*
 * OpenAI legacy Completions: https://platform.openai.com/docs/api-reference/completions
 * The reply to each prompt is the one the chat route gives a single user message holding it.
 */

/** OpenAI's documented default for this endpoint (chat has none). */
const DEFAULT_MAX_TOKENS = 16;
const MAX_N = 128;

const isTokenIds = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x));

/** The prompts of a request: one text or several, or token ids (one list or several). */
function promptsOf(prompt: unknown): Array<{ text: string; tokens: number }> | undefined {
  const one = (p: unknown) => {
    if (typeof p === 'string') return { text: p, tokens: tokensOf(p) };
    if (isTokenIds(p)) return { text: p.join(' '), tokens: p.length };
    return undefined;
  };
  if (typeof prompt === 'string' || isTokenIds(prompt)) return [one(prompt)!];
  if (!Array.isArray(prompt) || prompt.length === 0) return undefined;
  const all = prompt.map(one);
  return all.every((p) => p !== undefined) ? all : undefined;
}

export function validateOpenAICompletions(body: Json): ErrorSpec | undefined {
  if (typeof body.model !== 'string' || body.model === '') {
    return { status: 400, message: 'you must provide a model parameter', param: null, code: null };
  }
  if (body.prompt === undefined) {
    return {
      status: 400,
      message: "Missing required parameter: 'prompt'.",
      param: 'prompt',
      code: 'missing_required_parameter',
    };
  }
  if (!promptsOf(body.prompt)) {
    return {
      status: 400,
      message: "Invalid 'prompt': expected a string, an array of strings, or token ids.",
      param: 'prompt',
      code: 'invalid_value',
    };
  }
  return checkInteger(body.max_tokens, 'max_tokens', 0) ?? checkInteger(body.n, 'n', 1, MAX_N);
}

function textPlan(prompt: string, choice: number, maxTokens: number): TextReply {
  const chat = prepareChat(openAIConversation({ messages: [{ role: 'user', content: prompt }] }));
  const plan = planReply(chat.conversation, chat.digest, choice, maxTokens);
  // No tools are offered here, so the plan is always text.
  if (plan.kind !== 'text') throw new Error('a completion prompt planned a tool call');
  return plan;
}

export function renderOpenAICompletions(body: Json): Rendered {
  const prompts = promptsOf(body.prompt)!;
  const n = typeof body.n === 'number' ? body.n : 1;
  const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : DEFAULT_MAX_TOKENS;
  // Choices are ordered prompt by prompt, n per prompt, as OpenAI orders them.
  const plans = prompts.flatMap((p) => Array.from({ length: n }, (_, i) => textPlan(p.text, i, maxTokens)));
  const promptTokens = prompts.reduce((sum, p) => sum + p.tokens, 0);
  const completionTokens = plans.reduce((sum, p) => sum + p.tokens, 0);
  const usage = `{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}`;
  const id = newId('cmpl-');
  const created = Math.floor(Date.now() / 1000);
  const model = JSON.stringify(body.model);
  const finish = (p: TextReply) => (p.truncated ? '"length"' : '"stop"');
  const maxSteps = Math.max(...plans.map((p) => p.piecesJson.length));

  if (body.stream !== true) {
    const choices = plans
      .map(
        (p, i) =>
          `{"text":${JSON.stringify(p.text)},"index":${i},"logprobs":null,"finish_reason":${finish(p)}}`,
      )
      .join(',');
    const json =
      `{"id":"${id}","object":"text_completion","created":${created},"model":${model},` +
      `"system_fingerprint":"fp_mock","choices":[${choices}],"usage":${usage}}`;
    return { kind: 'json', body: json, tokens: maxSteps };
  }
  const includeUsage =
    typeof body.stream_options === 'object' &&
    body.stream_options !== null &&
    (body.stream_options as Json).include_usage === true;
  const open = `data: {"id":"${id}","object":"text_completion","created":${created},"model":${model},"system_fingerprint":"fp_mock","choices":[`;
  const close = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const chunk = (index: number, textJson: string, finishReason: string) =>
    `${open}{"text":${textJson},"index":${index},"logprobs":null,"finish_reason":${finishReason}}${close}`;
  const steps: string[] = [];
  for (let s = 0; s < maxSteps; s++) {
    let step = '';
    plans.forEach((p, i) => {
      const piece = p.piecesJson[s];
      if (piece !== undefined) step += chunk(i, piece, 'null');
    });
    steps.push(step);
  }
  let tail = plans.map((p, i) => chunk(i, '""', finish(p))).join('');
  if (includeUsage) tail += `${open}],"usage":${usage}}\n\n`;
  tail += 'data: [DONE]\n\n';
  return { kind: 'stream', stream: { head: '', steps, tail } };
}
