import { BeamBridgeError } from '../errors.js';

/**
 * Stable codes carried by {@link DistError}.
 *
 * Handshake (erl_dist_protocol, "Distribution Handshake"):
 * - `ERR_BAD_COOKIE`: a digest did not match; the cookies differ. On the
 *   accepting side the peer's challenge reply was wrong; on the dialing side the
 *   peer's challenge ack was wrong (or the peer closed right after our reply,
 *   which is how OTP refuses a bad cookie).
 * - `ERR_HANDSHAKE_REFUSED`: the peer answered `not_allowed`, or `alive`
 *   followed by our `false`, or lacks a flag we require.
 * - `ERR_HANDSHAKE_SIMULTANEOUS`: the peer answered `nok`: both nodes dialed
 *   each other and the peer's own attempt wins; wait for the incoming one.
 * - `ERR_HANDSHAKE_TIMEOUT`: a handshake step took longer than the deadline.
 * - `ERR_HANDSHAKE_PROTOCOL`: a malformed handshake message.
 * - `ERR_HANDSHAKE_NAME`: the peer is not the node we dialed, or its name is
 *   not a valid node name.
 * - `ERR_TLS`: TLS distribution only: the TLS handshake failed (our side
 *   refused the peer's certificate, the peer refused ours, no common protocol
 *   version or cipher, or the connection closed during the TLS handshake), or
 *   the peer's certificate does not match the host of its node name when that
 *   check is on. A TLS step that takes too long is `ERR_HANDSHAKE_TIMEOUT`.
 *   Also: one side speaks TLS distribution and the other does not (a plain
 *   node that receives a TLS record, or a TLS node that receives plain
 *   handshake bytes, says so).
 *
 * Dialing:
 * - `ERR_NODE_NOT_FOUND`: the peer's EPMD does not know the node (OTP's pang).
 * - `ERR_UNREACHABLE`: no TCP connection to the peer's EPMD or listen port.
 *
 * Connection:
 * - `ERR_CONNECTION_CLOSED`: the socket closed (peer went away, or we closed).
 * - `ERR_TICK_TIMEOUT`: nothing received within net_ticktime (OTP's
 *   `net_tick_timeout`).
 * - `ERR_FRAME_TOO_LARGE`: a frame or reassembled message over the cap.
 * - `ERR_DIST_PROTOCOL`: a malformed frame, distribution header, fragment or
 *   control message; only that connection is dropped.
 * - `ERR_BUSY`: the send buffer is over its limit and the policy is to fail
 *   (`onBusy: 'error'`), or a `sendAsync` / `drained` wait ran out of time.
 * - `ERR_ABORTED`: the caller's `AbortSignal` fired.
 */
export type DistErrorCode =
  | 'ERR_BAD_COOKIE'
  | 'ERR_HANDSHAKE_REFUSED'
  | 'ERR_HANDSHAKE_SIMULTANEOUS'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_HANDSHAKE_PROTOCOL'
  | 'ERR_HANDSHAKE_NAME'
  | 'ERR_TLS'
  | 'ERR_NODE_NOT_FOUND'
  | 'ERR_UNREACHABLE'
  | 'ERR_CONNECTION_CLOSED'
  | 'ERR_TICK_TIMEOUT'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_DIST_PROTOCOL'
  | 'ERR_BUSY'
  | 'ERR_ABORTED';

/** Every failure of the handshake and of an established connection. */
export class DistError extends BeamBridgeError {
  declare readonly code: DistErrorCode;
  /** The peer node name, when known. */
  readonly peer: string | undefined;

  constructor(code: DistErrorCode, message: string, options?: { cause?: unknown; peer?: string }) {
    super(code, message, options);
    this.peer = options?.peer;
  }
}
