import { BeamBridgeError } from '../errors.js';
import type { Term } from '../etf/types.js';

/**
 * Stable codes carried by {@link NodeError}.
 *
 * - `ERR_TIMEOUT`: a wait (receive, connect, ping, ...) ran past its `timeoutMs`.
 * - `ERR_ABORTED`: the caller's `AbortSignal` fired.
 * - `ERR_PROCESS_EXITED`: the process is dead (closed, killed by an exit
 *   signal, or its node stopped); `reason` holds the exit reason.
 * - `ERR_NODEDOWN`: the peer could not be reached or the connection was lost
 *   while waiting; `cause` is the `DistError` (bad cookie, not found, ...).
 * - `ERR_NAME_TAKEN`: a registered name is in use by another process.
 * - `ERR_BAD_NAME`: an invalid node name or process name.
 * - `ERR_BAD_TARGET`: a send target that is not a pid, alias, name or `{ name, node }`.
 * - `ERR_NODE_STOPPED`: the node was stopped.
 * - `ERR_NO_COOKIE`: no cookie given and `~/.erlang.cookie` is unreadable.
 * - `ERR_LISTEN`: the distribution listen socket could not be opened.
 * - `ERR_BUSY`: a message send found the peer's connection over its busy
 *   limit under the `onBusy: 'error'` policy (nothing was queued), or a
 *   `sendAsync` waited longer than its `timeoutMs` for room.
 * - `ERR_OVERLOADED`: the memory guard refuses new work (spawn, and so call,
 *   rpc, ping and serve): the heap is near V8's limit (see
 *   `NodeOptions.memoryGuard`). Retry later.
 */
export type NodeErrorCode =
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_PROCESS_EXITED'
  | 'ERR_NODEDOWN'
  | 'ERR_NAME_TAKEN'
  | 'ERR_BAD_NAME'
  | 'ERR_BAD_TARGET'
  | 'ERR_NODE_STOPPED'
  | 'ERR_NO_COOKIE'
  | 'ERR_LISTEN'
  | 'ERR_BUSY'
  | 'ERR_OVERLOADED';

/** Failures of the node layer: processes, mailboxes, names, waits. */
export class NodeError extends BeamBridgeError {
  declare readonly code: NodeErrorCode;
  /** The Erlang exit reason, for `ERR_PROCESS_EXITED` (e.g. the atom `normal`). */
  readonly reason: Term | undefined;

  constructor(code: NodeErrorCode, message: string, options?: { cause?: unknown; reason?: Term }) {
    super(code, message, options);
    this.reason = options?.reason;
  }
}

/** The rejection of a wait whose signal fired. */
export function abortError(signal: AbortSignal, what: string): NodeError {
  return new NodeError('ERR_ABORTED', `${what} aborted`, { cause: signal.reason });
}
