// Net tick bookkeeping, as OTP's dist_util:send_tick/2 and net_kernel's ticker:
// every ticktime/intensity a check runs; it sends a tick (an empty frame) when
// nothing was written since the last check, and declares the peer dead when
// nothing at all was read during `intensity` consecutive checks. A peer that
// froze is therefore dropped between ticktime and ticktime * (1 + 1/intensity)
// after the last thing it sent. No timers here: the connection drives it, and
// tests drive it by hand.

/** The outcome of one {@link TickState.check}. */
export type TickAction = 'ok' | 'tick' | 'timeout';

export class TickState {
  private tick = 0;
  private ticked = 0;
  private read = false;
  private wrote = false;

  /**
   * @param intensity Checks per ticktime (OTP's net_tickintensity, 4..1000; default 4).
   * @param peerHidden Tick whenever nothing was read, as OTP does towards hidden nodes.
   */
  constructor(
    readonly intensity: number = 4,
    private readonly peerHidden: boolean = false,
  ) {
    if (!Number.isInteger(intensity) || intensity < 4 || intensity > 1000) {
      throw new RangeError(`tick intensity must be an integer in 4..1000, not ${intensity}`);
    }
  }

  /** Something (a frame or a tick) arrived. */
  markRead(): void {
    this.read = true;
  }

  /** Something was written to the socket. */
  markWrote(): void {
    this.wrote = true;
  }

  /**
   * One periodic check. `pendingWrite` is true while bytes wait in the send
   * queue (then no tick is needed: they will reach the peer).
   */
  check(pendingWrite: boolean): TickAction {
    const t = (this.tick + 1) % this.intensity;
    if (!this.read && this.ticked === t) return 'timeout';
    const needTick = (!this.wrote && !pendingWrite) || (this.peerHidden && !this.read);
    if (this.read) this.ticked = t;
    this.tick = t;
    this.read = false;
    this.wrote = false;
    return needTick ? 'tick' : 'ok';
  }
}
