/**
 * How the command line reports a mistake: one line saying what is wrong and where to look,
 * never a stack trace. Shared by every `sluice` sub-command.
 */

/** A wrong flag or value on the command line; printed as one line with a hint to `--help`, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface UserError {
  message: string;
  /** 2: the command line was wrong; 1: the environment was (a port in use). */
  exitCode: 1 | 2;
}

/** The message for errors a user can fix, or undefined for a real bug (printed in full). */
export function userError(e: unknown, command: string, configurable: boolean): UserError | undefined {
  if (e instanceof UsageError || isParseArgsError(e))
    return { message: usageMessage(command, (e as Error).message), exitCode: 2 };
  const line = listenErrorLine(e, configurable);
  return line === undefined ? undefined : { message: line, exitCode: 1 };
}

/** What was wrong on the command line, and where the usage is. */
export function usageMessage(command: string, problem: string): string {
  // Node's parseArgs messages run on after the first sentence with advice about `--`.
  const what = problem.split(/\.\s/)[0].replace(/\.$/, '');
  return `sluice ${command}: ${what}\nrun 'sluice ${command} --help' for usage`;
}

/** `configurable`: the command reads the config file, so the port can be set there too. */
function listenErrorLine(e: unknown, configurable: boolean): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const port = (e as { port?: number } | undefined)?.port;
  const where = port === undefined ? 'the port' : `port ${port}`;
  const fix = configurable ? 'pass --port or set port in the config' : 'pass --port';
  if (code === 'EADDRINUSE') return `${where} is in use; ${fix}`;
  if (code === 'EACCES' && port !== undefined) return `no permission to listen on ${where}; ${fix}`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on this address (${(e as Error).message}); pass --host`;
  return undefined;
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
