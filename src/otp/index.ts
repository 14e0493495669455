// The OTP layer: the public Node class (NodeCore + ping, rpc, gen_server
// calls and casts, gen_servers in JS, functions exposed to rpc and erpc), the
// rex client and server, SPAWN_REQUEST for erpc, a group-leader io server,
// and their errors. Depends on src/node and below.
export { Node, type StartOptions, type GlobalRef, type PingResult } from './node.js';
export {
  Global,
  GlobalError,
  type GlobalErrorCode,
  type GlobalOptions,
  type GlobalName,
  type GlobalLockId,
  type GlobalLockOptions,
  type GlobalInfo,
  type GlobalResolve,
  type GlobalResolver,
} from './global.js';
export { CallError, RpcError, ErlangException, unreachableCode, type CallErrorCode, type RpcErrorCode, type ErlangClass } from './errors.js';
export { GenServer, CallFrom, noReply, type ServerHandlers, type ServeOptions, type RestartType } from './server.js';
export {
  ExposedModules,
  jsErrorReason,
  rpcValue,
  erpcExitReason,
  type RpcContext,
  type ExposedFunction,
  type ExposedModule,
  type Outcome,
} from './exposed.js';
export { serveSpawn, type HandlerErrorReporter } from './spawn.js';
export { genCall, serverNode, describeServer, type GenCallOptions, type ServerRef } from './call.js';
export { rexCall, rpcResult, type RpcOptions } from './rpc.js';
export { startIoServer, chars, type OutputHandler } from './io.js';
export { startRex } from './rex.js';
