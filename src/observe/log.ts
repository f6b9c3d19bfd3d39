import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs (pino). Credentials are never logged on purpose; as a second line of defence the
 * usual header paths are redacted and any resolved provider key is masked if it ever
 * reaches a message.
 */
export function createLogger(
  level: string,
  secrets: readonly string[] = [],
  destination?: pino.DestinationStream,
) {
  const mask = (s: string) =>
    secrets.reduce((acc, k) => (k.length >= 8 ? acc.split(k).join('[redacted]') : acc), s);
  return pino(
    {
      level,
      base: { service: 'sluice' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'headers.authorization',
          'headers["x-api-key"]',
          'req.headers.authorization',
          'req.headers["x-api-key"]',
          '*.apiKey',
          'apiKey',
        ],
        censor: '[redacted]',
      },
      hooks: {
        logMethod(args, method) {
          if (secrets.length > 0) {
            for (let i = 0; i < args.length; i++) {
              const a = args[i];
              if (typeof a === 'string') args[i] = mask(a);
              else if (a instanceof Error) args[i] = { err: { type: a.name, message: mask(a.message) } };
            }
          }
          method.apply(this, args);
        },
      },
    },
    destination ?? batchedStdout(),
  );
}

/**
 * stdout that gathers the lines logged in one turn of the event loop into one write. pino's
 * default destination appends each line to its pending text and measures that text's UTF-8
 * length again on every line, which made the per-request log line cost about twice its
 * building; joining an array once per turn does not. On exit what is gathered is written
 * synchronously, so no line is lost on a clean exit or a crash that reaches `exit`.
 */
function batchedStdout(): pino.DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false });
  let lines: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (lines.length === 0) return;
    const chunk = lines.join('');
    lines = [];
    stream.write(chunk);
  };
  process.once('exit', () => {
    flush();
    try {
      stream.flushSync();
    } catch {
      // Already closed: nothing more can be written.
    }
  });
  return {
    write(line: string) {
      lines.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}
