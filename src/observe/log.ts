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
    destination,
  );
}
