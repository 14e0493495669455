/**
 * The distribution layer: handshake, framed connection, control messages.
 * Depends on src/etf (terms, codec) and src/epmd (lookups). The node layer
 * (src/node) builds processes, mailboxes, links and monitors on top of it.
 *
 * ## Getting a connection
 *
 * Dialing (Node -> Erlang):
 * ```ts
 * const hs = await dial('stub@127.0.0.1', { name: 'web1@127.0.0.1', cookie, creation,
 *   flags: DEFAULT_DFLAGS, epmd: { port }, timeoutMs: 7000, signal })
 * const conn = new DistConnection(hs, { tickTimeMs: 60_000 })
 * conn.on('message', ...); conn.on('close', ...)   // in the same synchronous block
 * ```
 * With `nameMe: true` (and `name` set to our host only) the peer names us:
 * `hs.name` / `hs.creation` are then the assigned ones. `dial` does the EPMD
 * lookup (`ERR_NODE_NOT_FOUND` is OTP's pang); `initiateHandshake(socket, ...)`
 * works on any connected socket.
 * Accepting (Erlang -> Node), on a socket from the node's own `net.Server`:
 * ```ts
 * const hs = await acceptHandshake(socket, { name, cookie, creation, flags,
 *   decide: (peer) => ..., beforeAck: (r) => ... })
 * const conn = new DistConnection(hs, opts)
 * ```
 * Both reject with a {@link DistError}: `ERR_BAD_COOKIE`, `ERR_HANDSHAKE_REFUSED`,
 * `ERR_HANDSHAKE_SIMULTANEOUS`, `ERR_HANDSHAKE_TIMEOUT`, `ERR_HANDSHAKE_PROTOCOL`,
 * `ERR_HANDSHAKE_NAME`, `ERR_TLS`, `ERR_NODE_NOT_FOUND` (pang), `ERR_UNREACHABLE`,
 * `ERR_ABORTED`. The socket is destroyed on failure.
 *
 * ## TLS distribution (OTP's `-proto_dist inet_tls`)
 *
 * Pass the same `tls: DistTlsOptions` (`{ ca, cert, key }` and policy
 * fields) to `dial` / `initiateHandshake` and to `acceptHandshake`: TLS starts
 * on the TCP socket before the handshake, and the handshake and frames then run
 * over it (handshake messages with OTP's 4-byte lengths over TLS). Peer
 * certificates are checked by default in both directions, and the dialed
 * node's certificate must match the host of its node name (see
 * {@link DistTlsOptions}); the cookie is still checked. `hs.socket` is then the
 * `TLSSocket` and `hs.tcpSocket` the TCP socket under it, where
 * `DistConnection` puts keepalive and TCP_USER_TIMEOUT. EPMD is unchanged.
 *
 * ## Before authentication
 *
 * A handshake keeps nothing for its peer but the socket and its own locals
 * until the peer's digest checks out: the peer's name stays a string (no
 * atom), and every step (the TLS one included) has the `timeoutMs` deadline.
 * {@link liveHandshakes} counts handshakes in progress. The node layer's
 * `decide` must not intern or record anything either (beyond the pending
 * mark it drops when the handshake fails).
 *
 * ## Simultaneous connect (the node layer's part)
 *
 * Keep a table of pending outgoing handshakes by peer name. In `decide`:
 * - a live connection to that peer exists -> `'alive'` (then, in `beforeAck`,
 *   close the old connection: the peer has proved it is the same node);
 * - our own dial to that peer is pending -> `resolveSimultaneous(ourName, peer)`:
 *   `'nok'` keeps our dial (the incoming attempt fails with
 *   `ERR_HANDSHAKE_SIMULTANEOUS`, ignore it); `'ok_simultaneous'` means abort
 *   our dial (its signal) and use the incoming connection;
 * - otherwise `'ok'`.
 * A dial that fails with `ERR_HANDSHAKE_SIMULTANEOUS` lost the race: wait for
 * the peer's incoming connection instead. `decide` runs before the peer's cookie
 * is checked: record nothing but that transient pending mark.
 *
 * ## Using a connection
 *
 * - `conn.on('message', (m: ControlMessage) => ...)`: every control message,
 *   parsed into a discriminated union on `m.kind` (`send`, `reg_send`,
 *   `alias_send`, `altact_sig_send`, `link`, `unlink`, `unlink_id`,
 *   `unlink_id_ack`, `exit`, `exit2`, `monitor`, `demonitor`,
 *   `monitor_exit`, `group_leader`, `spawn_request`, `spawn_reply`), whatever
 *   was negotiated; `m.op` is the wire tag. The node layer must answer what
 *   it does not implement as OTP would (e.g. a MONITOR_P for an unknown
 *   process -> MONITOR_P_EXIT `noproc`; a SPAWN_REQUEST without DFLAG_SPAWN
 *   -> SPAWN_REPLY `notsup`).
 * - `conn.send(control, payload?)` / `conn.sendSignal(ctrl.regSend(from, name, msg))`:
 *   encoded at once, written at the end of the event-loop turn together with
 *   everything else sent in that turn; large messages are fragmented when the
 *   peer accepts fragments. Returns false when the send buffer is at or over
 *   `busyLimitBytes` (default 1 MiB, OTP's dist_buf_busy_limit); `'drain'`
 *   follows when it drops. `conn.bufferedBytes` reports the size.
 * - Backpressure policy, `onBusy` in the connection options: `'wait'`
 *   (default) queues a `send` made while busy and returns false, and the
 *   caller waits with `await conn.drained()`; `'error'` makes such a `send`
 *   throw `ERR_BUSY` and queue nothing (what was accepted before is kept and
 *   written in order), so the buffer never exceeds the limit plus one message.
 *   Under both, `await conn.sendAsync(control, payload, { timeoutMs, signal })`
 *   (or `sendSignalAsync`) waits for room, FIFO among waiters. Protocol
 *   signals the node layer must not lose (EXIT, LINK, UNLINK_ID_ACK,
 *   MONITOR_P_EXIT, ...) go with `conn.sendSignal(sig, { force: true })`,
 *   which queues them even while busy.
 * - `conn.on('close', (err?: DistError) => ...)`: once. `err` is undefined for a
 *   local `conn.close()`, else `ERR_CONNECTION_CLOSED` (also a peer killed with
 *   SIGKILL: its kernel closes the socket, so this comes at once),
 *   `ERR_TICK_TIMEOUT` (silent or frozen peer), `ERR_DIST_PROTOCOL` /
 *   `ERR_FRAME_TOO_LARGE` (malformed input: only this connection drops; the
 *   error is the reason to log). This is where nodedown starts.
 * - Ticks are automatic: one every `tickTimeMs / tickIntensity` when we have
 *   been silent; the peer is dropped after `tickIntensity` silent checks, i.e.
 *   between ticktime and 1.25 x ticktime after the last byte it sent (OTP's
 *   window). TCP keepalive and TCP_USER_TIMEOUT (= ticktime) are set too.
 * - `conn.stats`, `conn.frameCounters` (pass-through / header / fragment
 *   frames, atom-cache refs), `conn.pendingFragments` for observability.
 * - Incoming limits: `maxFrameSize` and `decoder.maxMessageSize` (512 MiB),
 *   `decoder.maxSequences` (1024 fragmented messages in flight),
 *   `decoder.maxReassemblyBytes` (bytes received and held for them together;
 *   default the larger of `maxMessageSize` and 512 MiB; their buffers grow
 *   as fragments arrive, by doubling once the bound is spoken for).
 *
 * Which variant to send (SEND or SEND_SENDER, EXIT or PAYLOAD_EXIT, ...) is
 * the node layer's choice from `conn.flags`; with {@link DEFAULT_DFLAGS} the
 * classic forms (`ctrl.send`, `ctrl.exit`, ...) are the negotiated ones.
 *
 * ## Flags
 *
 * {@link DEFAULT_DFLAGS} is the one constant of advertised capabilities. The node
 * layer passes it (or a trimmed/extended copy, e.g. `| DFLAG.SPAWN` once it
 * serves SPAWN_REQUEST, `| DFLAG.PUBLISHED` for a visible node) as `flags`.
 */
export { DistError, type DistErrorCode } from './errors.js';
export {
  DFLAG,
  DEFAULT_DFLAGS,
  REQUIRED_DFLAGS,
  DIST_LAYER_DFLAGS,
  MANDATORY_DFLAGS_25,
  MANDATORY_DFLAGS_26,
  expandFlags,
  hasFlag,
  flagNames,
} from './flags.js';
export {
  initiateHandshake,
  acceptHandshake,
  liveHandshakes,
  genDigest,
  resolveSimultaneous,
  splitNodeName,
  type HandshakeOptions,
  type InitiateOptions,
  type AcceptOptions,
  type AcceptDecision,
  type PeerHello,
  type HandshakeResult,
} from './handshake.js';
export { dial, connectTcp, type DialOptions } from './dial.js';
export { tlsConnect, tlsAccept, checkPeerHost, type DistTlsOptions, type TlsStepOptions } from './tls.js';
export {
  DistConnection,
  type DistConnectionOptions,
  type DistConnectionStats,
  type KeepAliveOptions,
  type DistWaitOptions,
} from './connection.js';
export { DistEncoder, type DistEncoderOptions } from './encoder.js';
export { DEFAULT_BUSY_POLL_US } from './busypoll.js';
export {
  FrameSplitter,
  DistDecoder,
  AtomCache,
  readAtomCacheRefs,
  PASS_THROUGH,
  DIST_HEADER,
  DIST_FRAG_HEADER,
  DIST_FRAG_CONT,
  DEFAULT_FRAGMENT_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  type DecodedMessage,
  type DistDecoderOptions,
} from './framing.js';
export {
  CTRL,
  ALTACT_SIG_FLAG,
  SPAWN_REPLY_FLAG,
  ctrl,
  parseControl,
  type ControlMessage,
  type OutgoingSignal,
  type SendSignal,
  type RegSendSignal,
  type AliasSendSignal,
  type AltactSignal,
  type LinkSignal,
  type UnlinkSignal,
  type UnlinkIdSignal,
  type ExitSignal,
  type MonitorSignal,
  type MonitorExitSignal,
  type GroupLeaderSignal,
  type SpawnRequestSignal,
  type SpawnReplySignal,
} from './control.js';
export { TickState, type TickAction } from './ticker.js';
export { SocketWriter } from './writer.js';
export {
  DistObserver,
  parseHandshakeMessage,
  controlOpName,
  type DistObserverOptions,
  type ObserverEvent,
  type ObservedSide,
  type HandshakeMessage,
  type FrameInfo,
} from './observer.js';
