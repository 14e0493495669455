// The OTP layer: the public Node class (NodeCore + ping, rpc, gen_server
// calls), the rex client and server, a group-leader io server, and their
// errors. Depends on src/node and below.
export { Node, type StartOptions } from './node.js';
export { CallError, RpcError, type CallErrorCode, type RpcErrorCode } from './errors.js';
export { genCall, serverNode, describeServer, type GenCallOptions, type ServerRef } from './call.js';
export { rexCall, rpcResult, type RpcOptions } from './rpc.js';
export { startIoServer, chars, type OutputHandler } from './io.js';
export { startRex } from './rex.js';
