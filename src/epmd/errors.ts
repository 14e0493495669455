import { BeamBridgeError } from '../errors.js';

/**
 * Stable codes carried by {@link EpmdError}.
 *
 * - `ERR_EPMD_UNREACHABLE`: no TCP connection to the EPMD (refused, reset, DNS).
 * - `ERR_EPMD_TIMEOUT`: the EPMD did not answer within the deadline.
 * - `ERR_EPMD_NAME_TAKEN`: ALIVE2 refused (the name is registered already).
 * - `ERR_EPMD_PROTOCOL`: the EPMD (or a client of the embedded one) sent bytes
 *   that are not a valid message.
 * - `ERR_EPMD_CLOSED`: the EPMD closed the connection before a full answer.
 * - `ERR_EPMD_BAD_NAME`: a node name that cannot be registered or looked up
 *   (empty, over 255 characters, or not UTF-8 encodable).
 * - `ERR_PORT_IN_USE`: the embedded EPMD cannot listen because its port is
 *   taken (by another epmd, most often).
 * - `ERR_ABORTED`: the caller's `AbortSignal` fired.
 */
export type EpmdErrorCode =
  | 'ERR_EPMD_UNREACHABLE'
  | 'ERR_EPMD_TIMEOUT'
  | 'ERR_EPMD_NAME_TAKEN'
  | 'ERR_EPMD_PROTOCOL'
  | 'ERR_EPMD_CLOSED'
  | 'ERR_EPMD_BAD_NAME'
  | 'ERR_PORT_IN_USE'
  | 'ERR_ABORTED';

/** Every failure of the EPMD client or server. */
export class EpmdError extends BeamBridgeError {
  declare readonly code: EpmdErrorCode;

  constructor(code: EpmdErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
