// The contract between generated service code and the client/server runtime.
import type { ThriftProtocol } from './protocol.js';

/** An i64 argument: a bigint, or a number that is a safe integer. Results are always bigint. */
export type I64Input = bigint | number;

/** A handler may answer synchronously or with a Promise. */
export type MaybePromise<T> = T | PromiseLike<T>;

/** Per-call options every generated client method takes as its last argument. */
export interface CallOptions {
  /**
   * Fail the call with ThriftTimeoutError (`ERR_THRIFT_TIMEOUT`) if no reply
   * came within this many milliseconds, counting any wait for a connection.
   * Defaults to the client's `timeoutMs`; `Infinity` disables it.
   */
  timeoutMs?: number;
  /** Aborting fails the call with ThriftAbortError (`ERR_THRIFT_ABORTED`). A reply arriving later is dropped. */
  signal?: AbortSignal;
}

/** What a server handler learns about the call it is answering (its last argument). */
export interface CallContext {
  /** The IDL method name. */
  readonly method: string;
  /** The caller's sequence id. */
  readonly seqid: number;
  /** The caller's address and port. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /**
   * Aborted when the caller's connection closes (its reply can no longer be
   * delivered). One signal per connection, shared by its calls: a listener
   * added per call should be removed when the call ends.
   */
  readonly signal: AbortSignal;
}

/**
 * One service function, as generated from the IDL: how to write and read its
 * argument and result structs. `A` is the argument tuple, `R` the result.
 */
export interface MethodDescriptor<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly oneway: boolean;
  /** Client: writes the `<name>_args` struct. */
  writeArgs(p: ThriftProtocol, args: A): void;
  /** Server: reads the `<name>_args` struct into the handler's arguments. */
  readArgs(p: ThriftProtocol): unknown[];
  /** Server: writes a `<name>_result` struct holding the success value. */
  writeResult(p: ThriftProtocol, value: R): void;
  /** Server: if `err` is one of the declared exceptions, writes the result struct carrying it and returns true. */
  writeException(p: ThriftProtocol, err: unknown): boolean;
  /** Client: reads the `<name>_result` struct; returns the success value or throws the declared exception. */
  readResult(p: ThriftProtocol): R;
}

/** A service: its IDL name and its functions by name. */
export interface ServiceDescriptor {
  readonly name: string;
  readonly methods: Readonly<Record<string, MethodDescriptor<any, any>>>;
}
