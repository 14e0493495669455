// The node layer: a beambridge node (listen socket + EPMD registration,
// connections in both directions with auto-connect, reconnect backoff,
// simultaneous-connect resolution and optional TLS), its processes (pids,
// mailboxes, registered names, aliases, links, monitors, exit signals) and
// the dispatch of every control message. Depends on
// src/etf, src/epmd and src/dist. The public `Node` class (src/otp) extends
// NodeCore with rpc, ping and gen_server calls.
export { NodeError, type NodeErrorCode } from './errors.js';
export { Mailbox, NONE, type ReceiveOptions, type MailboxStats } from './mailbox.js';
export {
  LocalProcess,
  isDown,
  pidKey,
  refKey,
  sameRef,
  type SendTarget,
  type RemoteName,
  type MonitorTarget,
  type SpawnOptions,
  type OutgoingMonitor,
  type IncomingMonitor,
  type LinkEntry,
} from './process.js';
export { NodeCore, type NodeEvents, type WaitOptions } from './node.js';
export {
  channels,
  traced,
  callsTraced,
  silentLogger,
  type Logger,
  type ConnectionUpEvent,
  type ConnectionDownEvent,
  type HandshakeErrorEvent,
  type SendEvent,
  type CallStartEvent,
  type CallEndEvent,
} from './diagnostics.js';
export { heapRatio, type MemoryGuardOptions } from './guard.js';
export { MAILBOX_OVERFLOW } from './process.js';
export { reconnectPolicy, type ReconnectOptions, type ReconnectPolicy, type PeerStatus, type StatusOptions } from './reconnect.js';
export { nodeFlags, type NodeOptions, type EpmdOption } from './setup.js';
export { parseNodeName, shortHostname, type NodeName } from './names.js';
export {
  parseGenCall,
  parseGenCast,
  parseFrom,
  genReply,
  genCallMessage,
  genCastMessage,
  isAtom,
  type GenCall,
  type GenFrom,
} from './gencall.js';
