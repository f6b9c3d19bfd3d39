import { type ReplyOutcome, afterReply } from '../pipeline/reply.js';
import type { Reply, RequestContext } from '../pipeline/types.js';

export interface DoneOutcome extends ReplyOutcome {
  /** The client went away and the stream was never finished or closed. */
  abandoned?: boolean;
}

/**
 * Run `done` exactly once when the reply is over: at once for JSON, at the end of a stream, or —
 * when the client disconnects before the stream was even read (so the stream's own `finally`
 * never runs) — `graceMs` after the abort. Settlement and recording rely on this never being
 * skipped: a reservation that is never settled would hold budget until its window ends.
 */
export function onReplyDone(
  ctx: RequestContext,
  reply: Reply,
  done: (outcome: DoneOutcome) => void,
  graceMs: number,
): Reply {
  let fired = false;
  let timer: NodeJS.Timeout | undefined;
  const fire = (outcome: DoneOutcome) => {
    if (fired) return;
    fired = true;
    if (timer) clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
    done(outcome);
  };
  const onAbort = () => {
    timer = setTimeout(() => fire({ completed: false, abandoned: true }), graceMs);
    timer.unref();
  };
  if (reply.kind === 'stream') {
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  }
  return afterReply(reply, fire);
}
