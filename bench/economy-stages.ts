/**
 * CPU cost of the token-economy stages on a request they have nothing to do for (a plain
 * gpt-4o-mini chat request: no alias, no budget, OpenAI dialect so no cache breakpoints), and
 * on a long one (≥ 1,024 prompt tokens, which the prompt-cache monitor samples). No network:
 * the terminal stage answers at once with reported usage. Prints µs per request, median of runs.
 * Run: node --import tsx bench/economy-stages.ts
 */
import { authConfigSchema } from '../src/auth/config.js';
import { costConfigSchema } from '../src/cost/config.js';
import { createTokenEconomy } from '../src/cost/economy.js';
import { createContext } from '../src/pipeline/context.js';
import { compose } from '../src/pipeline/compose.js';
import type { JsonReply, RequestContext, Stage } from '../src/pipeline/types.js';
import { routingConfigSchema } from '../src/route/config.js';
import { openBackend } from '../src/store/index.js';
import { tokensConfigSchema } from '../src/tokens/config.js';

const RUNS = 7;
const N = 20_000;

const REPLY: JsonReply = {
  kind: 'json',
  status: 200,
  headers: {},
  body: new TextEncoder().encode('{"choices":[{"message":{"role":"assistant","content":"ok"}}]}'),
};

function terminal(promptTokens: number): Stage {
  return async (ctx) => {
    ctx.usage = { inputTokens: promptTokens, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 1 };
    ctx.upstream = 'bench';
    return REPLY;
  };
}

function requestBytes(systemChars: number): Uint8Array {
  const system = 'You are a careful assistant who answers in one short sentence. '.repeat(systemChars / 64);
  const body = {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'What is the capital of France?' },
    ],
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

function contextFor(bytes: Uint8Array): RequestContext {
  return createContext({
    dialect: 'openai',
    route: 'chat',
    headers: { 'x-sluice-user': 'bench' },
    body: JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>,
    rawBody: bytes,
    signal: new AbortController().signal,
    timeoutMs: 60_000,
  });
}

async function usPerRequest(pipeline: (ctx: RequestContext) => Promise<unknown>, bytes: Uint8Array) {
  // Contexts are made outside the timed loop: what is measured is the stages alone.
  const contexts = Array.from({ length: N }, () => contextFor(bytes));
  const start = process.hrtime.bigint();
  for (const ctx of contexts) await pipeline(ctx);
  return Number(process.hrtime.bigint() - start) / N / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const backend = await openBackend({ dataDir: '', memory: true });
  const eco = createTokenEconomy(
    {
      cost: costConfigSchema.parse({}),
      tokens: tokensConfigSchema.parse({}),
      routing: routingConfigSchema.parse({}),
      auth: authConfigSchema.parse({}),
    },
    {
      backend,
      runAfterAuth: async () => {
        throw new Error('no summaries in this bench');
      },
    },
  );
  const cases = [
    { name: 'short (≈20 tokens)', bytes: requestBytes(64), promptTokens: 30 },
    { name: 'long (≈1,500 tokens)', bytes: requestBytes(6400), promptTokens: 1500 },
  ];
  for (const c of cases) {
    const shape = compose([...eco.stages.shape, terminal(c.promptTokens)]);
    const economy = compose([
      eco.stages.record,
      eco.stages.budget,
      ...eco.stages.shape,
      terminal(c.promptTokens),
    ]);
    const bare = compose([terminal(c.promptTokens)]);
    const runs = { bare: [] as number[], shape: [] as number[], economy: [] as number[] };
    for (let r = 0; r < RUNS; r++) {
      runs.bare.push(await usPerRequest(bare, c.bytes));
      runs.shape.push(await usPerRequest(shape, c.bytes));
      runs.economy.push(await usPerRequest(economy, c.bytes));
      await eco.flush();
    }
    const b = median(runs.bare);
    console.log(
      `${c.name}: shape stages ${(median(runs.shape) - b).toFixed(2)} µs, ` +
        `record+budget+shape ${(median(runs.economy) - b).toFixed(2)} µs (terminal alone ${b.toFixed(2)} µs; median of ${RUNS} × ${N})`,
    );
  }
  await eco.flush();
  await backend.close();
}

await main();
