import { checkInteger, isRecord, type Json, type PreparedChat, type Rendered } from './chat-request.js';
import type { ErrorSpec } from './errors.js';
import { newId } from './ids.js';
import { type PlannedReply, planReply } from './reply-plan.js';

/*
 * OpenAI Chat Completions: https://platform.openai.com/docs/api-reference/chat
 * Stream chunks are assembled from string templates: a reply is dozens of chunks and the
 * benchmark path should not JSON.stringify each one.
 */

const FINGERPRINT = '"service_tier":"default","system_fingerprint":"fp_mock"';
const MAX_N = 128;

export function validateOpenAIChat(body: Json): ErrorSpec | undefined {
  if (typeof body.model !== 'string' || body.model === '') {
    return { status: 400, message: 'you must provide a model parameter', param: null, code: null };
  }
  const messages = body.messages;
  if (!Array.isArray(messages)) {
    return {
      status: 400,
      message: "Missing required parameter: 'messages'.",
      param: 'messages',
      code: 'missing_required_parameter',
    };
  }
  if (messages.length === 0) {
    return {
      status: 400,
      message: "Invalid 'messages': empty array. Expected an array with minimum length 1.",
      param: 'messages',
      code: 'empty_array',
    };
  }
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!isRecord(m) || typeof m.role !== 'string') {
      return {
        status: 400,
        message: `Invalid 'messages[${i}]': expected an object with a 'role'.`,
        param: `messages[${i}]`,
        code: 'invalid_value',
      };
    }
  }
  return (
    checkInteger(body.max_tokens, 'max_tokens', 1) ??
    checkInteger(body.max_completion_tokens, 'max_completion_tokens', 1) ??
    checkInteger(body.n, 'n', 1, MAX_N)
  );
}

interface Answer {
  plans: PlannedReply[];
  completionTokens: number;
  maxSteps: number;
}

function answer(body: Json, chat: PreparedChat): Answer {
  const n = typeof body.n === 'number' ? body.n : 1;
  const cap = body.max_completion_tokens ?? body.max_tokens;
  const maxTokens = typeof cap === 'number' ? cap : undefined;
  const plans: PlannedReply[] = [];
  let completionTokens = 0;
  let maxSteps = 0;
  for (let i = 0; i < n; i++) {
    const plan = planReply(chat.conversation, chat.digest, i, maxTokens);
    plans.push(plan);
    completionTokens += plan.tokens;
    maxSteps = Math.max(maxSteps, plan.piecesJson.length);
  }
  return { plans, completionTokens, maxSteps };
}

function finishReason(plan: PlannedReply): string {
  if (plan.kind === 'tool') return 'tool_calls';
  return plan.truncated ? 'length' : 'stop';
}

/**
 * OpenAI's reasoning models (o-series, gpt-5) think before they answer: the hidden reasoning
 * tokens are billed as output, counted in `completion_tokens` and broken out in
 * `completion_tokens_details.reasoning_tokens`. The mock "thinks" a fixed 8 tokens per
 * visible one, so tests can tell reasoning detail from the visible answer.
 */
export const isReasoningModel = (model: unknown): boolean =>
  typeof model === 'string' && /^(o\d|gpt-5)/.test(model);
const REASONING_TOKENS_PER_VISIBLE = 8;

function usageJson(promptTokens: number, visibleTokens: number, reasoning: boolean): string {
  const reasoningTokens = reasoning ? visibleTokens * REASONING_TOKENS_PER_VISIBLE : 0;
  const completionTokens = visibleTokens + reasoningTokens;
  return (
    `{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},` +
    `"total_tokens":${promptTokens + completionTokens},` +
    `"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},` +
    `"completion_tokens_details":{"reasoning_tokens":${reasoningTokens},"audio_tokens":0,` +
    `"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
  );
}

export function renderOpenAIChat(body: Json, chat: PreparedChat): Rendered {
  const { plans, completionTokens, maxSteps } = answer(body, chat);
  const id = newId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const model = JSON.stringify(body.model);
  const usage = usageJson(chat.promptTokens, completionTokens, isReasoningModel(body.model));
  if (body.stream !== true) {
    const choices = plans.map((plan, i) => choiceJson(plan, i)).join(',');
    const json =
      `{"id":"${id}","object":"chat.completion","created":${created},"model":${model},` +
      `"choices":[${choices}],"usage":${usage},${FINGERPRINT}}`;
    return { kind: 'json', body: json, tokens: maxSteps };
  }
  const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
  const open = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${model},${FINGERPRINT},"choices":[`;
  const close = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const chunk = (index: number, delta: string, finish: string): string =>
    `${open}{"index":${index},"delta":${delta},"logprobs":null,"finish_reason":${finish}}${close}`;

  let head = '';
  const deltaOpen: string[] = [];
  plans.forEach((plan, i) => {
    if (plan.kind === 'text') {
      head += chunk(i, '{"role":"assistant","content":"","refusal":null}', 'null');
    } else {
      const call = `{"index":0,"id":"${newId('call_')}","type":"function","function":{"name":${JSON.stringify(plan.name)},"arguments":""}}`;
      head += chunk(i, `{"role":"assistant","content":null,"tool_calls":[${call}],"refusal":null}`, 'null');
    }
    deltaOpen.push(
      plan.kind === 'tool' ? '{"tool_calls":[{"index":0,"function":{"arguments":' : '{"content":',
    );
  });
  // One step per token position; with n > 1 the choices' chunks interleave, as upstream.
  const steps: string[] = [];
  for (let s = 0; s < maxSteps; s++) {
    let step = '';
    plans.forEach((plan, i) => {
      const piece = plan.piecesJson[s];
      if (piece === undefined) return;
      step += chunk(i, deltaOpen[i] + piece + (plan.kind === 'tool' ? '}}]}' : '}'), 'null');
    });
    steps.push(step);
  }
  let tail = '';
  plans.forEach((plan, i) => {
    tail += chunk(i, '{}', `"${finishReason(plan)}"`);
  });
  if (includeUsage) {
    tail += `${open}],"usage":${usage}}\n\n`;
  }
  tail += 'data: [DONE]\n\n';
  return { kind: 'stream', stream: { head, steps, tail } };
}

function choiceJson(plan: PlannedReply, index: number): string {
  let message: string;
  if (plan.kind === 'text') {
    message = `{"role":"assistant","content":${JSON.stringify(plan.text)},"refusal":null,"annotations":[]}`;
  } else {
    const fn = `{"name":${JSON.stringify(plan.name)},"arguments":${JSON.stringify(plan.argumentsJson)}}`;
    message = `{"role":"assistant","content":null,"tool_calls":[{"id":"${newId('call_')}","type":"function","function":${fn}}],"refusal":null,"annotations":[]}`;
  }
  return `{"index":${index},"message":${message},"logprobs":null,"finish_reason":"${finishReason(plan)}"}`;
}
