// Errors of the Thrift layer. Every one extends BeamBridgeError and carries a
// stable `code`; messages may change between releases, codes may not.
import { BeamBridgeError } from '../errors.js';

/**
 * The standard TApplicationException type ids (Thrift's `TApplicationExceptionType`),
 * as sent on the wire in field 2 of a TApplicationException.
 */
export const TApplicationExceptionType = {
  UNKNOWN: 0,
  UNKNOWN_METHOD: 1,
  INVALID_MESSAGE_TYPE: 2,
  WRONG_METHOD_NAME: 3,
  BAD_SEQUENCE_ID: 4,
  MISSING_RESULT: 5,
  INTERNAL_ERROR: 6,
  PROTOCOL_ERROR: 7,
  INVALID_TRANSFORM: 8,
  INVALID_PROTOCOL: 9,
  UNSUPPORTED_CLIENT_TYPE: 10,
} as const;

/** A TApplicationException type id; see {@link TApplicationExceptionType}. */
export type TApplicationExceptionTypeId = (typeof TApplicationExceptionType)[keyof typeof TApplicationExceptionType];

const APP_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(TApplicationExceptionType).map(([k, v]) => [v, k]),
);

/**
 * A `TApplicationException` received from (or to be sent to) a Thrift peer: the
 * peer did not know the method, its handler failed with an undeclared error, the
 * request was malformed, or the reply carried no result.
 * `code` is always `ERR_THRIFT_APPLICATION`; `type` is the wire type id and
 * `typeName` its symbolic name (e.g. `INTERNAL_ERROR`).
 */
export class ThriftApplicationError extends BeamBridgeError {
  /** The wire type id (see {@link TApplicationExceptionType}). */
  readonly type: number;
  /** Symbolic name of `type`, or `UNKNOWN(<n>)` for ids outside the standard set. */
  readonly typeName: string;

  constructor(type: number, message: string, options?: { cause?: unknown }) {
    super('ERR_THRIFT_APPLICATION', message, options);
    this.type = type;
    this.typeName = APP_TYPE_NAMES[type] ?? `UNKNOWN(${type})`;
  }
}

/**
 * Bytes that are not a valid Thrift message for the expected protocol: a bad
 * version, an unknown type id, a negative or oversized length, a truncated
 * struct, nesting too deep. `offset` is the byte offset (in the message, after
 * any frame header) where decoding stopped, when known.
 */
export class ThriftProtocolError extends BeamBridgeError {
  /** Byte offset where decoding failed, or -1 when unknown. */
  readonly offset: number;

  constructor(message: string, options?: { cause?: unknown; offset?: number; code?: string }) {
    super(options?.code ?? 'ERR_THRIFT_PROTOCOL', message, options);
    this.offset = options?.offset ?? -1;
  }
}

/** A frame larger than the configured maximum (`ERR_THRIFT_FRAME_TOO_LARGE`). */
export class ThriftFrameTooLargeError extends ThriftProtocolError {
  constructor(size: number, max: number) {
    super(`Thrift frame of ${size} bytes exceeds the maximum of ${max}`, { code: 'ERR_THRIFT_FRAME_TOO_LARGE' });
  }
}

/** A call that got no reply within its `timeoutMs` (`ERR_THRIFT_TIMEOUT`). */
export class ThriftTimeoutError extends BeamBridgeError {
  /** The method that timed out. */
  readonly method: string;
  /** The timeout that ran out, in milliseconds. */
  readonly timeoutMs: number;

  constructor(method: string, timeoutMs: number) {
    super('ERR_THRIFT_TIMEOUT', `Thrift call ${method} timed out after ${timeoutMs} ms`);
    this.method = method;
    this.timeoutMs = timeoutMs;
  }
}

/** A call cancelled through its AbortSignal (`ERR_THRIFT_ABORTED`); `cause` is the signal's reason. */
export class ThriftAbortError extends BeamBridgeError {
  readonly method: string;

  constructor(method: string, reason: unknown) {
    super('ERR_THRIFT_ABORTED', `Thrift call ${method} was aborted`, { cause: reason });
    this.method = method;
  }
}

/**
 * The connection carrying a call closed before its reply arrived
 * (`ERR_THRIFT_CONNECTION_LOST`). The call may or may not have run on the
 * server; it is never retried automatically.
 */
export class ThriftConnectionLostError extends BeamBridgeError {
  readonly method: string;

  constructor(method: string, cause?: unknown) {
    super('ERR_THRIFT_CONNECTION_LOST', `connection closed while Thrift call ${method} was pending`, { cause });
    this.method = method;
  }
}

/**
 * No connection was available for a call: the client is disconnected and
 * configured to fail fast, or it stayed disconnected for longer than the
 * bounded wait (`ERR_THRIFT_NOT_CONNECTED`). The call was never sent.
 */
export class ThriftNotConnectedError extends BeamBridgeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_THRIFT_NOT_CONNECTED', message, options);
  }
}

/** Connecting to a Thrift endpoint failed (`ERR_THRIFT_CONNECT`); `cause` is the socket error. */
export class ThriftConnectError extends BeamBridgeError {
  readonly host: string;
  readonly port: number;

  constructor(host: string, port: number, cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    super('ERR_THRIFT_CONNECT', `cannot connect to Thrift endpoint ${host}:${port}${why}`, { cause });
    this.host = host;
    this.port = port;
  }
}

/** A call made on a client (or cluster) after `close()` (`ERR_THRIFT_CLIENT_CLOSED`). */
export class ThriftClientClosedError extends BeamBridgeError {
  constructor(message = 'the Thrift client is closed') {
    super('ERR_THRIFT_CLIENT_CLOSED', message);
  }
}

/** A value that cannot be encoded for its declared Thrift type (`ERR_THRIFT_ENCODE`). */
export class ThriftEncodeError extends BeamBridgeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_THRIFT_ENCODE', message, options);
  }
}

/** An IDL file the parser cannot read (`ERR_THRIFT_IDL`); `line`/`column` locate the problem. */
export class ThriftIdlError extends BeamBridgeError {
  readonly line: number;
  readonly column: number;

  constructor(message: string, line: number, column: number) {
    super('ERR_THRIFT_IDL', `${message} (line ${line}, column ${column})`);
    this.line = line;
    this.column = column;
  }
}

/** Turns an IDL exception name such as `WrongPartition` into its stable code `ERR_THRIFT_WRONG_PARTITION`. */
export function declaredExceptionCode(name: string): string {
  const snake = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase();
  return `ERR_THRIFT_${snake}`;
}

/**
 * Base class of every exception declared in an IDL (`exception NotOnline {...}`).
 * Generated classes extend it; their `code` is derived from the IDL name
 * (`NotOnline` -> `ERR_THRIFT_NOT_ONLINE`) and `thriftName` is the IDL name.
 * A server handler that throws one sends it as the declared exception; a client
 * call rejects with one when the server sent it.
 */
export abstract class ThriftException extends BeamBridgeError {
  /** The exception's name in the IDL. */
  abstract readonly thriftName: string;
}
