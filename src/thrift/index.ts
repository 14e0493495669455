// The Thrift layer: typed Promise client and server for the chat IDL (and any
// IDL through the codegen), the partition-aware cluster client, the IDL
// parser and code generator, and a generic message dissector.
export * from './errors.js';
export * from './protocol.js';
export { asProtocolError, readApplicationException, writeApplicationException } from './codec.js';
export * from './runtime.js';
export { backoffDelay, applyKeepAlive } from './client.js';
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
export { ChatChannelCluster, slotOf, CHAT_SLOTS } from './cluster.js';
export type { ChatChannelClusterOptions, ClusterEndpoint } from './cluster.js';
export * from './gen/chat.js';
