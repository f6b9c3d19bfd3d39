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
    destination ?? bufferedStdout(),
  );
}

/** Bytes of log lines gathered before one write to stdout. */
const STDOUT_BATCH_BYTES = 4096;
/** Longest a gathered line waits for the batch to fill. */
const STDOUT_FLUSH_MS = 200;

/**
 * stdout gathering lines into writes of a few KB: with a line per request, one write (a syscall
 * through libuv's thread pool) per line was the request log's largest cost. A quiet gateway's
 * lines wait at most STDOUT_FLUSH_MS; on exit pino writes out what is left (its exit hook on
 * the destination), so only a killed process can lose its last fraction of a second.
 */
function bufferedStdout(): pino.DestinationStream {
  const stream = pino.destination({ dest: 1, minLength: STDOUT_BATCH_BYTES, sync: false });
  const timer = setInterval(() => {
    try {
      stream.flush();
    } catch {
      // Destroyed (the process is ending): nothing left to write.
      clearInterval(timer);
    }
  }, STDOUT_FLUSH_MS);
  timer.unref();
  stream.once('close', () => clearInterval(timer));
  return stream;
}
