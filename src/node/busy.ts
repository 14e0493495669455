// The one busy-connection policy of a node: what a message send does when
// the peer's connection holds more than `busyLimitBytes` not yet written (a
// slow or frozen peer), and how a sender waits for room. `p.send` asks
// `admit`, `p.sendAsync` and `node.waitWritable` wait through `whenRoom`; the
// node's own signals (replies, exits, link and monitor signals) bypass it.
// The connection below is always in its 'wait' mode: the decision is here.
import type { DistConnection, DistError, OutgoingSignal } from '../dist/index.js';
import type { WaitOptions } from '../deadline.js';
import { NodeError } from './errors.js';

/** `'wait'` or `'error'`: see `NodeOptions.onBusy`. */
export type BusyMode = 'wait' | 'error';

export class BusyPolicy {
  constructor(readonly mode: BusyMode) {}

  /** A message send to `c`: throws NodeError `ERR_BUSY` under `'error'` when `c` is busy (nothing is queued). */
  admit(c: DistConnection | undefined, peer: string): void {
    if (this.mode === 'error' && c?.busy) {
      throw new NodeError('ERR_BUSY', `connection to ${peer} is busy: ${c.bufferedBytes} bytes buffered, limit ${c.busyLimitBytes}`);
    }
  }

  /**
   * Waits until `c` is below its busy limit and the earlier waiters have
   * gone, then queues `sig` (if given). Resolves at once when `c` is not
   * busy, and when the connection is lost meanwhile (the message is then
   * dropped, as OTP drops it). Rejects with NodeError `ERR_ABORTED`, or after
   * `timeoutMs` with `timeoutCode` (`ERR_BUSY` for a send, `ERR_TIMEOUT` for
   * a plain wait).
   */
  async whenRoom(c: DistConnection, peer: string, o: WaitOptions, sig: OutgoingSignal | undefined, timeoutCode: 'ERR_BUSY' | 'ERR_TIMEOUT'): Promise<void> {
    try {
      if (sig) await c.sendSignalAsync(sig, o);
      else await c.drained(o);
    } catch (e) {
      const code = (e as DistError).code;
      if (code === 'ERR_BUSY') throw new NodeError(timeoutCode, `connection to ${peer} stayed busy for ${o.timeoutMs} ms`, { cause: e });
      if (code === 'ERR_ABORTED') throw new NodeError('ERR_ABORTED', `wait for room on the connection to ${peer} aborted`, { cause: o.signal?.reason });
      if (code !== 'ERR_CONNECTION_CLOSED') throw e;
    }
  }
}
