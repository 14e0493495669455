/**
 * beambridge: Erlang's own protocols for Node.js. The root export is what an
 * application uses: `Node` and its processes, gen_server and rpc both ways,
 * the term model, and the error classes with their codes. The layers for
 * specialists have subpath exports:
 *
 * - `beambridge/etf`: codec extras, `explain`, the lossless JSON form
 * - `beambridge/msgpack`: the lossless MessagePack bridge
 * - `beambridge/epmd`: EPMD client and embedded server
 * - `beambridge/wire`: handshake, connection, control messages, the observer
 * - `beambridge/thrift`, `beambridge/thrift/runtime`: Thrift client, server,
 *   protocols, IDL parser and generator, dissector; what generated code imports
 * - `beambridge/chat`: the chat IDL's types and clients
 * - `beambridge/testing`: real epmd, erl nodes and the chat stub in your tests
 *
 * api/*.api.txt lists every entry point's names; `npm run api:check` (in CI)
 * fails when they change without `npm run api:report`.
 */

// Nodes, processes, gen_server and rpc.
export { Node, type StartOptions } from './otp/node.js';
export type { NodeEvents } from './node/node.js';
export { LocalProcess, type SpawnOptions } from './node/process.js';
export type { ReceiveOptions } from './node/mailbox.js';
export { GenServer, CallFrom, noReply, type ServerHandlers, type ServeOptions } from './otp/server.js';
export type { RpcContext, ExposedModule } from './otp/exposed.js';

// The term model.
export {
  Atom,
  atom,
  Tuple,
  tuple,
  Float,
  Pid,
  Port,
  Reference,
  BitBinary,
  ImproperList,
  Fun,
  ExportFun,
  LocalExt,
  type Term,
} from './etf/types.js';
export { encode } from './etf/encode.js';
export { decode } from './etf/decode.js';
export { termEquals, compareTerms } from './etf/compare.js';
export { parseTerm, formatTerm } from './etf/text.js';
export { term, match, pattern, type Pattern, type Bindings } from './etf/pattern.js';

// Errors: one base class, a stable `code` on each.
export { BeamBridgeError } from './errors.js';
export { DecodeError, EncodeError, type DecodeErrorCode } from './etf/errors.js';
export { ParseError } from './etf/text-parse.js';
export { NodeError, type NodeErrorCode } from './node/errors.js';
export { CallError, RpcError, ErlangException, type CallErrorCode, type RpcErrorCode } from './otp/errors.js';
export { DistError, type DistErrorCode } from './dist/errors.js';
export { EpmdError, type EpmdErrorCode } from './epmd/errors.js';
export { GlobalError, type GlobalErrorCode } from './otp/global.js';
