import { BeamBridgeError } from '../errors.js';
import { formatTerm } from '../etf/index.js';
import type { Term } from '../etf/types.js';
import type { DistError } from '../dist/index.js';

/**
 * The code of a call or rpc whose peer could not be reached: the root cause
 * when it is one the user must fix (`ERR_BAD_COOKIE`: the cookies differ;
 * `ERR_TLS`: one side speaks TLS distribution and the other does not, or a
 * certificate was refused), else `ERR_NODEDOWN`.
 */
export function unreachableCode(cause: DistError | undefined): 'ERR_BAD_COOKIE' | 'ERR_TLS' | 'ERR_NODEDOWN' {
  const code = cause?.code;
  return code === 'ERR_BAD_COOKIE' || code === 'ERR_TLS' ? code : 'ERR_NODEDOWN';
}


/**
 * Stable codes carried by {@link CallError}, one per way `gen_server:call`
 * exits:
 * - `ERR_NOPROC`: no such process (the DOWN said `noproc`); `reason` is `noproc`.
 * - `ERR_CALL_EXIT`: the server exited during the call; `reason` is its exit reason.
 * - `ERR_NODEDOWN`: the server's node could not be reached or went down;
 *   `reason` is `{nodedown, Node}`; `cause` is the connection's DistError when known.
 * - `ERR_BAD_COOKIE`, `ERR_TLS`: the node could not be reached for a reason
 *   to fix (the cookies differ; TLS on one side only or a refused
 *   certificate); `reason` is `{nodedown, Node}` as for `ERR_NODEDOWN`, and
 *   `cause` is the DistError.
 * - `ERR_TIMEOUT`: no reply in time; `reason` is `timeout`.
 */
export type CallErrorCode = 'ERR_NOPROC' | 'ERR_CALL_EXIT' | 'ERR_NODEDOWN' | 'ERR_BAD_COOKIE' | 'ERR_TLS' | 'ERR_TIMEOUT';

/** A failed gen_server-style call. */
export class CallError extends BeamBridgeError {
  declare readonly code: CallErrorCode;
  /** The reason `gen_server:call` would exit with (`noproc`, `{nodedown, Node}`, `timeout`, the server's exit reason). */
  readonly reason: Term;

  /** `options.detail` ends the message (e.g. why the node is down, with a hint). */
  constructor(code: CallErrorCode, reason: Term, message: string, options?: { cause?: unknown; detail?: string }) {
    super(code, withDetail(`${message}: ${safeFormat(reason)}`, options?.detail), options);
    this.reason = reason;
  }
}

/**
 * Stable codes carried by {@link RpcError}:
 * - `ERR_RPC_EXCEPTION`: the function raised (the result was
 *   `{badrpc, {'EXIT', X}}`); `exitReason` is X: `{Error, Stack}` for an
 *   error (then `stack` is set), the reason of an exit, or for a missing
 *   function `{undef, [...]}`.
 * - `ERR_BADRPC`: any other `{badrpc, Reason}` (e.g. `nodedown` from a
 *   remote rpc, or `noproc` when the peer runs no `rex`); `reason` is Reason.
 * - `ERR_NODEDOWN`: the peer could not be reached or the connection was lost
 *   during the call (rpc's `{badrpc, nodedown}`); `cause` is the DistError when known.
 * - `ERR_BAD_COOKIE`, `ERR_TLS`: the peer could not be reached for a reason
 *   to fix (see {@link CallErrorCode}); `reason` is `nodedown`, `cause` the DistError.
 * - `ERR_TIMEOUT`: no answer within `timeoutMs` (rpc's `{badrpc, timeout}`).
 *
 * A `throw` in the called function is a normal return in rpc (as in OTP):
 * its value is the result. `reason` always holds what OTP's `rpc:call` would
 * return inside `{badrpc, Reason}`.
 */
export type RpcErrorCode = 'ERR_RPC_EXCEPTION' | 'ERR_BADRPC' | 'ERR_NODEDOWN' | 'ERR_BAD_COOKIE' | 'ERR_TLS' | 'ERR_TIMEOUT';

/** A failed rpc. */
export class RpcError extends BeamBridgeError {
  declare readonly code: RpcErrorCode;
  /** The Reason of rpc's `{badrpc, Reason}`. */
  readonly reason: Term;
  /** For `ERR_RPC_EXCEPTION`: X of `{'EXIT', X}`. */
  readonly exitReason: Term | undefined;
  /** For `ERR_RPC_EXCEPTION` of an error: the (trimmed) Erlang stack `[{M, F, A, Location}]`. */
  readonly erlangStack: Term[] | undefined;

  constructor(
    code: RpcErrorCode,
    reason: Term,
    message: string,
    options?: { cause?: unknown; exitReason?: Term; stack?: Term[]; detail?: string },
  ) {
    super(code, withDetail(`${message}: ${safeFormat(reason)}`, options?.detail), options);
    this.reason = reason;
    this.exitReason = options?.exitReason;
    this.erlangStack = options?.stack;
  }
}

function withDetail(message: string, detail: string | undefined): string {
  return detail ? `${message} (${detail})` : message;
}

/** A term in Erlang syntax for a message, cut after `max` characters; never throws. */
export function safeFormat(t: Term, max = 500): string {
  try {
    const s = formatTerm(t);
    return s.length > max ? `${s.slice(0, max)}...` : s;
  } catch {
    return String(t);
  }
}

/** The class of an Erlang exception. */
export type ErlangClass = 'error' | 'exit' | 'throw';

/**
 * Throw this from an exposed function (`node.expose`) or a gen_server
 * handler (`node.serve`) to raise a specific Erlang exception instead of the
 * default for a JS error (`error:{js_error, <<"message">>}`):
 *
 * ```ts
 * throw ErlangException.error(atom('badarg'))      // erpc: error:{exception, badarg, Stack}
 * throw ErlangException.exit(atom('shutdown'))     // erpc: exit:{exception, shutdown}
 * throw ErlangException.throw(tuple(atom('ok'), 1)) // erpc: throw:{ok, 1}; rpc: the value
 * ```
 *
 * In a gen_server handler the server exits with `reason` (`exit`), with
 * `{reason, Stack}` (`error`), or with `{{nocatch, Value}, Stack}` (`throw`).
 * Code: `ERR_ERLANG_EXCEPTION`.
 */
export class ErlangException extends BeamBridgeError {
  declare readonly code: 'ERR_ERLANG_EXCEPTION';
  /** `error`, `exit` or `throw`. */
  readonly errorClass: ErlangClass;
  /** The exception's reason (or thrown value). */
  readonly reason: Term;
  /** For `error`: the stack to report, `[{M, F, ArityOrArgs, Location}]`; default one frame for the called function. */
  readonly erlangStack: Term[] | undefined;

  constructor(errorClass: ErlangClass, reason: Term, o: { stack?: Term[]; message?: string } = {}) {
    super('ERR_ERLANG_EXCEPTION', o.message ?? `${errorClass}:${safeFormat(reason)}`);
    this.errorClass = errorClass;
    this.reason = reason;
    this.erlangStack = o.stack;
  }

  /** `erlang:error(Reason)`. */
  static error(reason: Term, stack?: Term[]): ErlangException {
    return new ErlangException('error', reason, { stack });
  }

  /** `erlang:exit(Reason)`. */
  static exit(reason: Term): ErlangException {
    return new ErlangException('exit', reason);
  }

  /** `erlang:throw(Value)`. */
  static throw(value: Term): ErlangException {
    return new ErlangException('throw', value);
  }
}
