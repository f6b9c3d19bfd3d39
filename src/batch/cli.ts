import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { usageMessage } from '../cli-errors.js';
import { DIALECTS } from '../dialect/index.js';
import { backpressureOfError, backpressureOfReply } from './backpressure.js';
import {
  type BatchInputLine,
  type BatchTarget,
  chooseOutputFormat,
  type FinishedLine,
  formatOutputRecord,
  type LineOutcome,
  type OutputFormat,
  parseInputLines,
  readFinishedLines,
} from './jsonl.js';
import { BatchProgressBar } from './progress.js';
import { type BatchResult, DEFAULT_MAX_ATTEMPTS, runBatch } from './run.js';

/**
 * `sluice batch IN.jsonl -o OUT.jsonl [options]` (BATCH_USAGE lists them)
 *
 * Sends every input line through the gateway pipeline (`deps.send`, so caches, budgets and
 * limits apply) and writes one output line per input line (formats in jsonl.ts). Batch lines
 * go at `low` priority by default, so a big batch does not hold up interactive traffic.
 *
 * Backpressure: a 429/503 refusal that waiting can cure (a full queue, a rate limit) is not
 * a result. The line is retried after the refusal's Retry-After while the batch lowers its
 * own concurrency (run.ts, adaptive.ts); only after --max-attempts refusals does it become
 * the line's error. A spent budget is final at once (backpressure.ts).
 *
 * Resuming: each result is appended to OUT as soon as it is known (one write per line, so a
 * crash loses at most the calls in flight). On start, lines already in OUT are skipped
 * (failed ones too, unless --retry-failed). When the command ends (completed or Ctrl-C),
 * OUT is rewritten in input order through a temporary file and a rename; only after a hard
 * kill can it be left in completion order, which the next run reads and fixes.
 *
 * Exit codes: 0 every line succeeded, 1 some lines failed (each has its error line),
 * 2 usage or file error, 130 interrupted (run the same command again to resume).
 */

export interface BatchSendResult {
  status: number;
  body: unknown;
  /** The reply's headers (Retry-After, x-should-retry, x-request-id), lower-case names. */
  headers?: Record<string, string>;
}

export interface BatchSendOptions {
  /** Request headers the pipeline should see: `x-sluice-priority` (default `low`), the caller's key. */
  headers: Record<string, string>;
  /** The route the line is for (chat unless an OpenAI batch line names another url). */
  target: BatchTarget;
}

export type BatchSend = (
  body: Record<string, unknown>,
  options: BatchSendOptions,
) => Promise<BatchSendResult>;

/** A gateway opened for one run (the CLI's in-process pipeline). */
export interface OpenedBatchGateway {
  send: BatchSend;
  close(): Promise<void>;
}

export interface BatchCliDeps {
  /** Run one request body through the gateway pipeline (tests, library use). */
  send?: BatchSend;
  /** Open the gateway once the arguments are read (`--config`); used when `send` is not given. */
  open?: (options: { configFile?: string; say: (line: string) => void }) => Promise<OpenedBatchGateway>;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborting interrupts the run like Ctrl-C. */
  signal?: AbortSignal;
  /** Handle SIGINT: the first stops starting new lines, a second exits at once. Default true. */
  handleSigint?: boolean;
}

const DEFAULT_CONCURRENCY = 8;

export const BATCH_USAGE = `usage: sluice batch IN.jsonl -o OUT.jsonl [options]

Sends each line of IN.jsonl through the gateway pipeline (caches, budgets, limits apply) and
writes one result line per input line to OUT.jsonl. Run the same command again to resume.

Input lines: a chat completion request body, or OpenAI's batch format
  {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
  with url /v1/chat/completions, /v1/embeddings or /v1/messages.

Options:
  -o, --output FILE         where results go (required)
  --config FILE             gateway config (default: SLUICE_CONFIG, else environment)
  --key KEY                 virtual key to send as the caller's Authorization / x-api-key
  -c, --concurrency N       most lines in flight (default ${DEFAULT_CONCURRENCY}); lowered while the gateway
                            answers 429/503, raised again as lines succeed
  --max-attempts N          tries per line while it is refused as busy (default ${DEFAULT_MAX_ATTEMPTS})
  -m, --model MODEL         model for lines that name none
  --priority P              high, normal or low (default low)
  --output-format F         auto, openai or simple (default auto: openai for OpenAI batch input)
  --retry-failed            redo lines whose earlier result was an error
  -q, --quiet               no progress bar
  -h, --help                this help

Exit codes: 0 all lines succeeded, 1 some failed, 2 usage or file error, 130 interrupted.`;

const PRIORITIES = new Set(['high', 'normal', 'low']);
const OUTPUT_FORMATS = new Set(['auto', 'openai', 'simple']);

interface BatchArgs {
  help: boolean;
  input: string;
  output: string;
  concurrency: number;
  maxAttempts: number;
  configFile?: string;
  key?: string;
  model?: string;
  priority: string;
  outputFormat: OutputFormat | 'auto';
  retryFailed: boolean;
  quiet: boolean;
}

/** One call's outcome and the reply headers the backpressure rule reads. */
interface SentLine {
  outcome: LineOutcome;
  headers: Record<string, string>;
}

export async function batchCommand(argv: string[], deps: BatchCliDeps): Promise<number> {
  const stderr = deps.stderr ?? process.stderr;
  const say = (line: string) => stderr.write(`${line}\n`);
  let args: BatchArgs;
  try {
    args = parseBatchArgs(argv);
  } catch (error) {
    say(usageMessage('batch', (error as Error).message));
    return 2;
  }
  if (args.help) {
    (deps.stdout ?? process.stdout).write(`${BATCH_USAGE}\n`);
    return 0;
  }

  let inputs: BatchInputLine[];
  let format: OutputFormat;
  let existing: Map<number, FinishedLine>;
  let outText = '';
  try {
    inputs = parseInputLines(readFileSync(args.input, 'utf8'));
    format = chooseOutputFormat(inputs, args.outputFormat);
    if (existsSync(args.output)) outText = readFileSync(args.output, 'utf8');
    existing = readFinishedLines(outText, format, inputs);
  } catch (error) {
    say(`sluice batch: ${(error as Error).message}`);
    return 2;
  }

  const finished = new Map<number, string>();
  let failed = 0;
  for (const [index, { line, failed: lineFailed }] of existing) {
    if (lineFailed && args.retryFailed) continue;
    finished.set(index, line);
    if (lineFailed) failed++;
  }
  const pending = inputs.filter((item) => !finished.has(item.index));
  if (finished.size > 0) say(`resuming: ${finished.size} of ${inputs.length} lines already done`);

  let gateway: OpenedBatchGateway;
  try {
    gateway = await openGateway(args, deps, say);
  } catch (error) {
    say(`sluice batch: ${(error as Error).message}`);
    return 2;
  }

  const fd = openSync(args.output, 'a');
  // A torn last line (hard kill mid-write) must not swallow the next record.
  if (outText.length > 0 && !outText.endsWith('\n')) writeSync(fd, '\n');
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  deps.signal?.addEventListener('abort', onAbort, { once: true });
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) {
      closeSync(fd);
      process.exit(130);
    }
    say('\nstopping: finishing the calls in flight (Ctrl-C again to quit at once)');
    controller.abort();
  };
  const handleSigint = deps.handleSigint ?? true;
  if (handleSigint) process.on('SIGINT', onSigint);

  const busy = { refusals: 0, givenUp: 0, lowest: args.concurrency };
  const bar = args.quiet ? undefined : new BatchProgressBar(stderr, inputs.length, finished.size);
  try {
    await runBatch(pending, (item) => sendLine(item, args, gateway.send), {
      concurrency: args.concurrency,
      maxAttempts: args.maxAttempts,
      signal: controller.signal,
      backpressureOf: backpressureOfResult,
      onBackpressure: (event) => {
        busy.refusals++;
        if (!event.retrying && !controller.signal.aborted) busy.givenUp++;
        busy.lowest = Math.min(busy.lowest, event.limit);
      },
      onResult: (i, result) => {
        const item = pending[i];
        const outcome: LineOutcome = result.ok
          ? result.value.outcome
          : {
              kind: 'failed',
              status: result.error.status ?? 500,
              error: { message: result.error.message, code: result.error.code },
            };
        if (isFailure(outcome)) failed++;
        const line = JSON.stringify(formatOutputRecord(format, item, outcome));
        writeSync(fd, `${line}\n`);
        finished.set(item.index, line);
        bar?.update(finished.size, failed);
      },
    });
  } finally {
    bar?.stop();
    if (handleSigint) process.off('SIGINT', onSigint);
    deps.signal?.removeEventListener('abort', onAbort);
    closeSync(fd);
    await gateway.close();
  }

  rewriteInOrder(args.output, inputs, finished);
  if (busy.refusals > 0) {
    say(
      `backpressure: ${busy.refusals} busy refusals (429/503) waited out and retried; ` +
        `concurrency went down to ${busy.lowest}` +
        (busy.givenUp > 0 ? `; ${busy.givenUp} lines gave up after ${args.maxAttempts} attempts` : ''),
    );
  }
  const interrupted = finished.size < inputs.length;
  say(
    `${finished.size} of ${inputs.length} lines done, ${failed} failed` +
      (interrupted ? '; interrupted: run the same command again to resume' : `; wrote ${args.output}`),
  );
  if (interrupted) return 130;
  return failed > 0 ? 1 : 0;
}

async function openGateway(
  args: BatchArgs,
  deps: BatchCliDeps,
  say: (line: string) => void,
): Promise<OpenedBatchGateway> {
  if (deps.send) return { send: deps.send, close: async () => {} };
  if (!deps.open) throw new TypeError('batchCommand needs deps.send or deps.open');
  return deps.open({ configFile: args.configFile, say });
}

function backpressureOfResult(result: BatchResult<SentLine>) {
  if (!result.ok) return backpressureOfError(result.error);
  const { outcome, headers } = result.value;
  if (outcome.kind !== 'reply') return undefined;
  return backpressureOfReply(outcome.status, headers, outcome.body);
}

const isFailure = (outcome: LineOutcome) => outcome.kind === 'failed' || outcome.status >= 400;

function parseBatchArgs(argv: string[]): BatchArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      output: { type: 'string', short: 'o' },
      config: { type: 'string' },
      key: { type: 'string' },
      concurrency: { type: 'string', short: 'c' },
      'max-attempts': { type: 'string' },
      model: { type: 'string', short: 'm' },
      priority: { type: 'string', default: 'low' },
      'output-format': { type: 'string', default: 'auto' },
      'retry-failed': { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
  });
  const help = values.help === true;
  if (!help && positionals.length !== 1) throw new Error('expected exactly one input file');
  if (!help && values.output === undefined) throw new Error('missing -o OUT.jsonl');
  const concurrency = positiveInteger('--concurrency', values.concurrency, DEFAULT_CONCURRENCY);
  const maxAttempts = positiveInteger('--max-attempts', values['max-attempts'], DEFAULT_MAX_ATTEMPTS);
  const priority = values.priority ?? 'low';
  if (!PRIORITIES.has(priority)) throw new Error('--priority must be high, normal or low');
  const outputFormat = values['output-format'] ?? 'auto';
  if (!OUTPUT_FORMATS.has(outputFormat)) throw new Error('--output-format must be auto, openai or simple');
  if (values.key !== undefined && values.key.trim() === '') throw new Error('--key must not be empty');
  return {
    help,
    input: positionals[0] ?? '',
    output: values.output ?? '',
    concurrency,
    maxAttempts,
    configFile: values.config,
    key: values.key,
    model: values.model,
    priority,
    outputFormat: outputFormat as OutputFormat | 'auto',
    retryFailed: values['retry-failed'] === true,
    quiet: values.quiet === true,
  };
}

function positiveInteger(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be an integer >= 1`);
  return n;
}

/** The caller's credentials as that route's clients send them. */
function keyHeaders(key: string | undefined, target: BatchTarget): Record<string, string> {
  if (key === undefined) return {};
  // The gateway takes a key the way the route's provider does.
  return DIALECTS[target.dialect].provider.authHeaders(key);
}

async function sendLine(item: BatchInputLine, args: BatchArgs, send: BatchSend): Promise<SentLine> {
  if (item.body === undefined) {
    return {
      outcome: {
        kind: 'failed',
        status: 400,
        error: { message: item.invalid ?? 'invalid line', code: 'invalid_request' },
      },
      headers: {},
    };
  }
  const body: Record<string, unknown> = { ...item.body };
  if (body.model === undefined && args.model !== undefined) body.model = args.model;
  // A batch stores whole answers: streaming would only add work.
  if (body.stream !== undefined) body.stream = false;
  const headers = { 'x-sluice-priority': args.priority, ...keyHeaders(args.key, item.target) };
  // A throw is left to runBatch: it becomes the line's error, or backpressure if it says 429/503.
  const reply = await send(body, { headers, target: item.target });
  const replyHeaders = reply.headers ?? {};
  return {
    outcome: {
      kind: 'reply',
      status: reply.status,
      body: reply.body,
      requestId: replyHeaders['x-request-id'],
    },
    headers: replyHeaders,
  };
}

function rewriteInOrder(path: string, inputs: BatchInputLine[], finished: Map<number, string>): void {
  const lines: string[] = [];
  for (const item of inputs) {
    const line = finished.get(item.index);
    if (line !== undefined) lines.push(line);
  }
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  renameSync(tmp, path);
}
