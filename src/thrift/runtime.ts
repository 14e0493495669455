// `beambridge/thrift/runtime`: everything generated Thrift code imports, in one
// module. Generated code for your own IDL imports it from
// 'beambridge/thrift/runtime' (the codegen's default); the in-repo chat code
// imports this file directly.
import { ThriftProtocolError } from './errors.js';
import { typeName, type ProtocolName, type ThriftProtocol } from './protocol.js';

export { TType, MessageType, typeName } from './protocol.js';
export { encodeWith, decodeWith } from './codec.js';
export type { ProtocolName, ThriftProtocol } from './protocol.js';
export {
  ThriftException,
  ThriftApplicationError,
  TApplicationExceptionType,
  ThriftEncodeError,
  ThriftProtocolError,
} from './errors.js';
export { ThriftClient } from './client.js';
export { I64Map, i64Parts, i64FromParts } from './i64map.js';
export type { ThriftClientOptions } from './client.js';
export { serveThrift } from './server.js';
export type { ThriftServer, ThriftServerOptions } from './server.js';
export type { CallOptions, CallContext, I64Input, MaybePromise, MethodDescriptor, ServiceDescriptor } from './service.js';

/** The codec object generated for each struct (same name as its interface). */
export interface StructCodec<T> {
  /** Reads one struct from a protocol. */
  read(p: ThriftProtocol): T;
  /** Writes one struct to a protocol. */
  write(p: ThriftProtocol, v: T): void;
  /** The struct's bytes alone (no message header, no frame). */
  encode(v: T, protocol?: ProtocolName): Buffer;
  /** Decodes bytes made by `encode`; malformed input raises ThriftProtocolError. */
  decode(bytes: Uint8Array, protocol?: ProtocolName): T;
}

/** The error generated code raises for a container whose element types are not the declared ones. */
export function elementTypeError(kind: string, t1: number, t2?: number): ThriftProtocolError {
  const got = t2 === undefined ? typeName(t1) : `${typeName(t1)}, ${typeName(t2)}`;
  return new ThriftProtocolError(`${kind} has element type ${got}, not the declared one`, { code: 'ERR_THRIFT_TYPE_MISMATCH' });
}

/** The error generated code raises when required fields are absent. `seen` has bit i set for required field i. */
export function missingFieldError(struct: string, required: string[], seen: number): ThriftProtocolError {
  const missing = required.filter((_, i) => (seen & (1 << i)) === 0);
  return new ThriftProtocolError(`${struct} lacks required field(s) ${missing.join(', ')}`, { code: 'ERR_THRIFT_MISSING_FIELD' });
}

/** The message of a declared exception: `WrongPartition { userId: 5, owner: "b@h", thriftPort: 9091 }`. */
export function describeException(name: string, fields: object): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : typeof v === 'bigint' ? v.toString() : String(v)}`);
  return parts.length ? `${name} { ${parts.join(', ')} }` : name;
}
