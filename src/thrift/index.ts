// `beambridge/thrift`: the Thrift layer. The typed Promise client and server
// runtime under every generated client, the wire protocols, the IDL parser and
// TypeScript generator, and a generic message dissector. The chat IDL's
// generated types and clients are `beambridge/chat`; what generated code
// imports is also `beambridge/thrift/runtime`.
export * from './errors.js';
export * from './protocol.js';
export { asProtocolError, readApplicationException, writeApplicationException } from './codec.js';
export * from './runtime.js';
export { backoffDelay } from './client.js';
export type { ThriftReconnectOptions, ThriftKeepAliveOptions, ThriftClientEvents } from './client.js';
export { parseThriftIdl, resolveTypedefs } from './idl.js';
export type {
  BaseTypeName,
  ConstValue,
  EnumDef,
  FieldDef,
  FunctionDef,
  ServiceDef,
  StructDef,
  ThriftIdl,
  TypeRef,
} from './idl.js';
export { generateTypeScript } from './codegen/generate.js';
export type { GenerateOptions } from './codegen/generate.js';
export { dissectThriftMessage, formatThriftDissection } from './dissect.js';
export type { DissectOptions, DissectedMessage, DissectedField, DissectedValue, Span } from './dissect.js';
