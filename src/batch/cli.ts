import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { usageMessage } from '../cli-errors.js';
import {
  type BatchInputLine,
  type BatchOutputRecord,
  errorFromBody,
  parseInputLines,
  parseOutputRecords,
} from './jsonl.js';
import { BatchProgressBar } from './progress.js';
import { runBatch, toBatchError } from './run.js';

/**
 * `sluice batch IN.jsonl -o OUT.jsonl [--concurrency N] [--model M] [--priority P] [--retry-failed] [--quiet]`
 *
 * Sends every input line through the gateway pipeline (`deps.send`, so caches, budgets and
 * limits apply) and writes one output line per input line (formats in jsonl.ts). Batch lines
 * go at `low` priority by default, so a big batch does not hold up interactive traffic.
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
}

export interface BatchSendOptions {
  /** Request headers the pipeline should see: `x-sluice-priority` (default `low`). */
  headers: Record<string, string>;
}

export interface BatchCliDeps {
  /** Run one chat request body through the gateway pipeline. */
  send(body: Record<string, unknown>, options: BatchSendOptions): Promise<BatchSendResult>;
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborting interrupts the run like Ctrl-C. */
  signal?: AbortSignal;
  /** Handle SIGINT: the first stops starting new lines, a second exits at once. Default true. */
  handleSigint?: boolean;
}

export const BATCH_USAGE =
  'usage: sluice batch IN.jsonl -o OUT.jsonl [--concurrency N] [--model MODEL] [--priority high|normal|low]\n' +
  '                    [--retry-failed] [--quiet]';

const DEFAULT_CONCURRENCY = 8;

const PRIORITIES = new Set(['high', 'normal', 'low']);

interface BatchArgs {
  input: string;
  output: string;
  concurrency: number;
  model?: string;
  priority: string;
  retryFailed: boolean;
  quiet: boolean;
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

  let inputs: BatchInputLine[];
  let existing: ReturnType<typeof parseOutputRecords>;
  let outText = '';
  try {
    inputs = parseInputLines(readFileSync(args.input, 'utf8'));
    if (existsSync(args.output)) outText = readFileSync(args.output, 'utf8');
    existing = parseOutputRecords(outText);
    checkOutputMatches(inputs, existing);
  } catch (error) {
    say(`sluice batch: ${(error as Error).message}`);
    return 2;
  }

  const finished = new Map<number, string>();
  let failed = 0;
  for (const [index, { record, line }] of existing) {
    if (record.error !== undefined && args.retryFailed) continue;
    finished.set(index, line);
    if (record.error !== undefined) failed++;
  }
  const pending = inputs.filter((item) => !finished.has(item.index));
  if (finished.size > 0) say(`resuming: ${finished.size} of ${inputs.length} lines already done`);

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

  const bar = args.quiet ? undefined : new BatchProgressBar(stderr, inputs.length, finished.size);
  try {
    await runBatch(pending, (item) => sendLine(item, args, deps), {
      concurrency: args.concurrency,
      signal: controller.signal,
      onResult: (i, result) => {
        const item = pending[i];
        const record: BatchOutputRecord = result.ok
          ? result.value
          : {
              ...idFields(item),
              status: result.error.status ?? 500,
              error: { message: result.error.message, code: result.error.code },
            };
        if (record.error !== undefined) failed++;
        const line = JSON.stringify(record);
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
  }

  rewriteInOrder(args.output, inputs, finished);
  const interrupted = finished.size < inputs.length;
  say(
    `${finished.size} of ${inputs.length} lines done, ${failed} failed` +
      (interrupted ? '; interrupted: run the same command again to resume' : `; wrote ${args.output}`),
  );
  if (interrupted) return 130;
  return failed > 0 ? 1 : 0;
}

function parseBatchArgs(argv: string[]): BatchArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o' },
      concurrency: { type: 'string', short: 'c' },
      model: { type: 'string', short: 'm' },
      priority: { type: 'string', default: 'low' },
      'retry-failed': { type: 'boolean', default: false },
      quiet: { type: 'boolean', short: 'q', default: false },
    },
  });
  if (positionals.length !== 1) throw new Error('expected exactly one input file');
  if (values.output === undefined) throw new Error('missing -o OUT.jsonl');
  const concurrency = values.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new Error('--concurrency must be an integer >= 1');
  const priority = values.priority ?? 'low';
  if (!PRIORITIES.has(priority)) throw new Error('--priority must be high, normal or low');
  return {
    input: positionals[0],
    output: values.output,
    concurrency,
    model: values.model,
    priority,
    retryFailed: values['retry-failed'] === true,
    quiet: values.quiet === true,
  };
}

async function sendLine(
  item: BatchInputLine,
  args: BatchArgs,
  deps: BatchCliDeps,
): Promise<BatchOutputRecord> {
  const id = idFields(item);
  if (item.body === undefined) {
    return {
      ...id,
      status: 400,
      error: { message: item.invalid ?? 'invalid line', code: 'invalid_request' },
    };
  }
  const body: Record<string, unknown> = { ...item.body };
  if (body.model === undefined && args.model !== undefined) body.model = args.model;
  // A batch stores whole answers: streaming would only add work.
  if (body.stream !== undefined) body.stream = false;
  let reply: BatchSendResult;
  try {
    reply = await deps.send(body, { headers: { 'x-sluice-priority': args.priority } });
  } catch (error) {
    const e = toBatchError(error);
    return { ...id, status: e.status ?? 500, error: { message: e.message, code: e.code } };
  }
  if (reply.status >= 400)
    return { ...id, status: reply.status, error: errorFromBody(reply.status, reply.body) };
  return { ...id, status: reply.status, response: reply.body };
}

function idFields(item: BatchInputLine): { index: number; custom_id?: string } {
  return item.customId === undefined
    ? { index: item.index }
    : { index: item.index, custom_id: item.customId };
}

/** Refuse to resume into an output file written for another input. */
function checkOutputMatches(inputs: BatchInputLine[], existing: ReturnType<typeof parseOutputRecords>): void {
  if (existing.size === 0) return;
  const byIndex = new Map(inputs.map((item) => [item.index, item]));
  for (const [index, { record }] of existing) {
    const item = byIndex.get(index);
    if (item === undefined || (record.custom_id ?? undefined) !== item.customId) {
      throw new Error(
        `the output file already holds a result (index ${index}) that does not match the input; ` +
          'use another output file or delete it',
      );
    }
  }
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
