export interface WarnLog {
  warn(details: object, message: string): void;
}

/**
 * A warning that repeats on every request during an outage (store down, say) would flood the
 * logs: this logs each message at most once per `intervalMs`, with how many were suppressed
 * since the last line.
 */
export function throttledWarn(
  log: WarnLog,
  intervalMs = 10_000,
  now: () => number = Date.now,
): (details: object, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (details, message) => {
    const seen = last.get(message);
    const at = now();
    if (seen && at - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    last.set(message, { at, suppressed: 0 });
    log.warn(seen?.suppressed ? { ...details, suppressed: seen.suppressed } : details, message);
  };
}
