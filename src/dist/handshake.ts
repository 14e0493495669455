// The distribution handshake, version 6 (OTP 23+), in both directions.
// Spec: erl_dist_protocol, "Distribution Handshake"; OTP's dist_util.erl.
//
//   initiator (A)                          acceptor (B)
//   send_name 'N' flags creation name  ->
//                                      <-  status 's' ok | ok_simultaneous | nok |
//                                          not_allowed | alive | named:
//   (alive: 's' true | false)          ->
//                                      <-  challenge 'N' flags chB creation name
//   reply 'r' chA digest(chB)          ->
//                                      <-  ack 'a' digest(chA)
//
// Every message is framed with a 2-byte big-endian length (4 bytes over TLS,
// see tls.ts). Nothing is created for the peer before its digest checks out:
// its name stays a string, no atom is made, and the only state is this
// function's locals and the socket; every step has a deadline, so an
// unauthenticated peer holds a socket for at most (steps + 1) x timeoutMs.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { DistError } from './errors.js';
import { DEFAULT_DFLAGS, DFLAG, REQUIRED_DFLAGS, expandFlags, flagNames } from './flags.js';
import { checkPeerHost, tlsAccept, tlsConnect, type DistTlsOptions } from './tls.js';
import { HandshakeReader, encodeN, parseN } from './hsreader.js';

/** Options shared by both directions. */
export interface HandshakeOptions {
  /**
   * Our full node name (`web1@127.0.0.1`). An initiator that asks for a
   * dynamic name ({@link InitiateOptions.nameMe}) gives only the host part.
   */
  name: string;
  /** The cookie, or a function giving the cookie to use with a peer (OTP's per-node cookies). */
  cookie: string | ((peer: string) => string);
  /** Our creation (incarnation); 0 for a NAME_ME initiator. */
  creation: number;
  /** Flags we advertise; default {@link DEFAULT_DFLAGS}. */
  flags?: bigint;
  /** Flags the peer must have; default {@link REQUIRED_DFLAGS}. */
  requiredFlags?: bigint;
  /** Deadline for each handshake step (reset on every message, as OTP's net_setuptime); default 7000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Run the distribution over TLS, as OTP's `-proto_dist inet_tls`: TLS starts
   * on the connected socket before the handshake (its own step, with the same
   * deadline), certificates are checked by default (see {@link DistTlsOptions}),
   * and the cookie is still checked. Both sides of a connection must agree.
   */
  tls?: DistTlsOptions;
}

/** Options of {@link initiateHandshake}. */
export interface InitiateOptions extends HandshakeOptions {
  /** The full name of the node we dialed; its challenge must carry exactly this name. */
  peer: string;
  /** Ask the peer to name us (DFLAG_NAME_ME): `name` is then just our host. */
  nameMe?: boolean;
  /**
   * The peer answered `alive` (it still has a connection from a node with our
   * name). Return true to continue (that old connection is stale), false to
   * give up. Default: true.
   */
  onAlive?: () => boolean | Promise<boolean>;
}

/** What the acceptor knows about a peer after its send_name, before any check of its cookie. */
export interface PeerHello {
  /** The peer's full node name; just its host when {@link dynamic}. */
  name: string;
  /** The peer's flags, with MANDATORY_25_DIGEST expanded. */
  flags: bigint;
  creation: number;
  /** The peer asked for a dynamic name (NAME_ME). */
  dynamic: boolean;
}

/**
 * The status the acceptor sends after the peer's send_name:
 * - `ok`: go on.
 * - `ok_simultaneous`: go on; we had dialed the peer too, our name is smaller,
 *   and we have abandoned our own attempt.
 * - `nok`: we had dialed the peer too and our name is greater: our attempt wins.
 * - `not_allowed`: refused.
 * - `alive`: we already have a connection to that node; the peer decides
 *   whether it is stale (see {@link AcceptOptions.beforeAck}).
 */
export type AcceptDecision = 'ok' | 'ok_simultaneous' | 'nok' | 'not_allowed' | 'alive';

/** Options of {@link acceptHandshake}. */
export interface AcceptOptions extends HandshakeOptions {
  /**
   * Decides the status once the peer's name is known (OTP's mark_pending).
   * Whatever it records about the peer must be dropped if the handshake then
   * fails. Default: always `ok`. See {@link resolveSimultaneous}.
   */
  decide?: (peer: PeerHello) => AcceptDecision | Promise<AcceptDecision>;
  /** Names a NAME_ME peer; default: a random 12-letter name on its host and a random creation. */
  dynamicName?: (host: string) => { name: string; creation: number };
  /**
   * Called once the peer's digest checks out and before our ack is sent: the
   * place to tear down an old connection the peer replaces (`alive`). A throw
   * aborts the handshake.
   */
  beforeAck?: (result: Omit<HandshakeResult, 'leftover'>) => void | Promise<void>;
}

/** A completed handshake. Hand it to `new DistConnection(result, ...)`. */
export interface HandshakeResult {
  /** The stream the distribution runs over: the TCP socket, or the `TLSSocket` over it with TLS. */
  socket: Socket;
  /**
   * With TLS, the TCP socket under {@link socket} (where TCP options such as
   * keepalive and TCP_USER_TIMEOUT go); absent or equal to `socket` without TLS.
   */
  tcpSocket?: Socket;
  /** The peer's full node name. */
  peer: string;
  /** The peer's advertised flags (MANDATORY_25_DIGEST expanded). */
  peerFlags: bigint;
  /** The negotiated flags: ours AND the peer's. */
  flags: bigint;
  peerCreation: number;
  /** Our full node name (assigned by the peer with NAME_ME). */
  name: string;
  /** Our creation (assigned by the peer with NAME_ME). */
  creation: number;
  /** True when we dialed. */
  initiator: boolean;
  /** The status of the exchange: ok, ok_simultaneous, alive or named. */
  status: 'ok' | 'ok_simultaneous' | 'alive' | 'named';
  /** Bytes that arrived after the last handshake message: the start of the frame stream. */
  leftover: Buffer;
}

/** MD5(cookie ++ decimal challenge), the digest of both directions. */
export function genDigest(challenge: number, cookie: string): Buffer {
  return createHash('md5')
    .update(Buffer.from(cookie, 'latin1'))
    .update(String(challenge >>> 0))
    .digest();
}

/**
 * OTP's simultaneous-connect rule, from the acceptor's side when it is itself
 * dialing the peer: if our name is greater, answer `nok` (our attempt wins),
 * else abandon ours and answer `ok_simultaneous`. Names compare as OTP
 * compares atoms (by code point).
 */
export function resolveSimultaneous(ourName: string, peerName: string): 'nok' | 'ok_simultaneous' {
  return Buffer.compare(Buffer.from(ourName, 'utf8'), Buffer.from(peerName, 'utf8')) > 0 ? 'nok' : 'ok_simultaneous';
}

/** Splits `name@host`; undefined unless both parts are non-empty and there is one `@`. */
export function splitNodeName(node: string): { alive: string; host: string } | undefined {
  const parts = node.split('@');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined;
  return { alive: parts[0], host: parts[1] };
}

/** What to do about ERR_BAD_COOKIE. */
const COOKIE_HINT = 'check the cookie: both nodes need the same one (erl -setcookie or ~/.erlang.cookie; the `cookie` option here)';

let live = 0;

/**
 * Handshakes in progress in this process, both directions, TLS step
 * included: what unauthenticated peers currently hold. Returns to 0 once
 * every handshake has succeeded or failed.
 */
export function liveHandshakes(): number {
  return live;
}

function cookieFor(o: HandshakeOptions, peer: string): string {
  return typeof o.cookie === 'function' ? o.cookie(peer) : o.cookie;
}

function checkRequired(peerFlags: bigint, required: bigint, peer: string): void {
  const missing = required & ~peerFlags;
  if (missing !== 0n) {
    throw new DistError('ERR_HANDSHAKE_REFUSED', `peer ${peer} lacks required flags ${flagNames(missing).join(', ')}`, { peer });
  }
}

function challenge32(): number {
  return randomBytes(4).readUInt32BE(0);
}

/**
 * Runs `body` with a reader, after the TLS step when `o.tls` is set; on
 * failure the socket is closed and the error rethrown. A refusal status still
 * being written is flushed first.
 */
async function withReader<T>(
  tcp: Socket,
  o: HandshakeOptions,
  tlsRole: { client: string } | 'server',
  body: (r: HandshakeReader) => Promise<T>,
): Promise<T> {
  live++;
  try {
    const timeoutMs = o.timeoutMs ?? 7000;
    let socket = tcp;
    if (o.tls) {
      const step = { timeoutMs, signal: o.signal };
      socket = tlsRole === 'server' ? await tlsAccept(tcp, o.tls, step) : await tlsConnect(tcp, tlsRole.client, o.tls, step);
    }
    const r = new HandshakeReader(socket, timeoutMs, o.signal, o.tls ? 4 : 2);
    try {
      return await body(r);
    } catch (e) {
      r.detach();
      if (socket.writableLength > 0 && !socket.destroyed) {
        socket.end();
        setTimeout(() => {
          socket.destroy();
          tcp.destroy();
        }, 1000).unref();
      } else {
        socket.destroy();
        tcp.destroy();
      }
      throw e;
    }
  } catch (e) {
    throw e instanceof DistError ? e : new DistError('ERR_HANDSHAKE_PROTOCOL', (e as Error).message, { cause: e });
  } finally {
    live--;
  }
}

/**
 * Runs the handshake as the dialing node (A) on a connected socket. Resolves
 * with the negotiated connection parameters; rejects with a {@link DistError}
 * (and destroys the socket) on any failure.
 */
export function initiateHandshake(tcp: Socket, o: InitiateOptions): Promise<HandshakeResult> {
  const host = splitNodeName(o.peer)?.host ?? o.peer;
  return withReader(tcp, o, { client: host }, async (r) => {
    const socket = r.socket;
    const ourFlags = (o.flags ?? DEFAULT_DFLAGS) | (o.nameMe ? DFLAG.NAME_ME : 0n);
    const peer = o.peer;
    r.send(encodeN(ourFlags, o.nameMe ? 0 : o.creation, o.name));

    let name = o.name;
    let creation = o.creation;
    let status: HandshakeResult['status'];
    let st: Buffer;
    try {
      st = await r.next();
    } catch (e) {
      // A TLS peer that closes before any answer has, in practice, refused our certificate.
      if (o.tls && (e as DistError).code === 'ERR_CONNECTION_CLOSED') {
        throw new DistError('ERR_TLS', `${peer} closed the TLS connection before answering: it probably refused our certificate`, { peer, cause: e });
      }
      throw e;
    }
    if (st[0] !== 0x73) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'expected a status message', { peer });
    const text = st.subarray(1).toString('latin1');
    if (text.startsWith('named:')) {
      if (!o.nameMe) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'peer named us though we did not ask', { peer });
      if (st.length < 9) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'short named: status', { peer });
      const nlen = st.readUInt16BE(7);
      if (st.length < 13 + nlen) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'short named: status', { peer });
      name = st.subarray(9, 9 + nlen).toString('utf8');
      creation = st.readUInt32BE(9 + nlen);
      if (splitNodeName(name)?.host !== o.name) {
        throw new DistError('ERR_HANDSHAKE_NAME', `peer named us ${name}, not on host ${o.name}`, { peer });
      }
      status = 'named';
    } else if (text === 'not_allowed') {
      throw new DistError('ERR_HANDSHAKE_REFUSED', `${peer} refused the connection (not_allowed)`, { peer });
    } else if (o.nameMe) {
      throw new DistError('ERR_HANDSHAKE_PROTOCOL', `unexpected status ${text} to a NAME_ME request`, { peer });
    } else if (text === 'nok') {
      throw new DistError('ERR_HANDSHAKE_SIMULTANEOUS', `${peer} is connecting to us at the same time and wins`, { peer });
    } else if (text === 'alive') {
      const go = o.onAlive ? await o.onAlive() : true;
      r.sendStatus(go ? 'true' : 'false');
      if (!go) throw new DistError('ERR_HANDSHAKE_REFUSED', `${peer} already has a connection from us`, { peer });
      status = 'alive';
    } else if (text === 'ok' || text === 'ok_simultaneous') {
      status = text;
    } else {
      throw new DistError('ERR_HANDSHAKE_PROTOCOL', `unknown status ${JSON.stringify(text.slice(0, 40))}`, { peer });
    }

    const ch = parseN(await r.next(), true);
    if (ch.name !== peer) {
      throw new DistError('ERR_HANDSHAKE_NAME', `dialed ${peer} but the peer is ${ch.name}`, { peer });
    }
    const peerFlags = expandFlags(ch.flags);
    checkRequired(peerFlags, o.requiredFlags ?? REQUIRED_DFLAGS, peer);
    const cookie = cookieFor(o, peer);
    const ourChallenge = challenge32();
    const reply = Buffer.allocUnsafe(21);
    reply[0] = 0x72; // 'r'
    reply.writeUInt32BE(ourChallenge, 1);
    genDigest(ch.challenge, cookie).copy(reply, 5);
    r.send(reply);

    let ack: Buffer;
    try {
      ack = await r.next();
    } catch (e) {
      // OTP refuses a wrong digest by closing the socket without a word.
      if ((e as DistError).code === 'ERR_CONNECTION_CLOSED') {
        throw new DistError('ERR_BAD_COOKIE', `${peer} closed the connection after our challenge reply: the cookies differ; ${COOKIE_HINT}`, {
          peer,
          cause: e,
        });
      }
      throw e;
    }
    if (ack.length !== 17 || ack[0] !== 0x61) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'malformed challenge ack', { peer });
    if (!ack.subarray(1).equals(genDigest(ourChallenge, cookie))) {
      throw new DistError('ERR_BAD_COOKIE', `${peer} answered our challenge with a wrong digest: the cookies differ; ${COOKIE_HINT}`, { peer });
    }
    const leftover = r.detach();
    return {
      socket,
      tcpSocket: tcp,
      peer,
      peerFlags,
      flags: (ourFlags & ~DFLAG.NAME_ME) & peerFlags,
      peerCreation: ch.creation,
      name,
      creation,
      initiator: true,
      status,
      leftover,
    };
  });
}

function randomName(): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (let i = 0; i < 12; i++) s += letters[randomInt(letters.length)];
  return s;
}

/**
 * Runs the handshake as the accepting node (B) on an accepted socket. Resolves
 * with the negotiated connection parameters; rejects with a {@link DistError}
 * (and destroys the socket) on any failure, including a peer whose digest is
 * wrong (`ERR_BAD_COOKIE`, refused as OTP does: by closing the socket).
 */
export function acceptHandshake(tcp: Socket, o: AcceptOptions): Promise<HandshakeResult> {
  return withReader(tcp, o, 'server', async (r) => {
    const socket = r.socket;
    const hello = parseN(await r.next(), false);
    const dynamic = (hello.flags & DFLAG.NAME_ME) !== 0n;
    const peerFlags = expandFlags(hello.flags);
    const valid = dynamic ? hello.name !== '' && !hello.name.includes('@') : splitNodeName(hello.name) !== undefined;
    if (!valid) {
      throw new DistError('ERR_HANDSHAKE_NAME', `invalid peer node name ${JSON.stringify(hello.name.slice(0, 300))}`);
    }
    try {
      checkRequired(peerFlags, o.requiredFlags ?? REQUIRED_DFLAGS, hello.name);
    } catch (e) {
      r.sendStatus('not_allowed');
      throw e;
    }
    if (o.tls?.verifyClientHost) {
      const host = dynamic ? hello.name : splitNodeName(hello.name)!.host;
      const mismatch = checkPeerHost(socket as TLSSocket, host);
      if (mismatch) {
        r.sendStatus('not_allowed');
        throw new DistError('ERR_TLS', `${hello.name.slice(0, 300)}: certificate does not match its host: ${mismatch.message}`, { cause: mismatch });
      }
    }
    const decision = o.decide ? await o.decide({ name: hello.name, flags: peerFlags, creation: hello.creation, dynamic }) : 'ok';
    let peer = hello.name;
    let peerCreation = hello.creation;
    let status: HandshakeResult['status'];
    if (dynamic && (decision === 'ok' || decision === 'ok_simultaneous')) {
      const named = (o.dynamicName ?? ((host: string) => ({ name: `${randomName()}@${host}`, creation: randomInt(4, 0xffffffff) })))(
        hello.name,
      );
      peer = named.name;
      peerCreation = named.creation;
      const nb = Buffer.from(peer, 'utf8');
      const st = Buffer.allocUnsafe(13 + nb.length);
      st.write('snamed:', 0, 'latin1');
      st.writeUInt16BE(nb.length, 7);
      nb.copy(st, 9);
      st.writeUInt32BE(peerCreation >>> 0, 9 + nb.length);
      r.send(st);
      status = 'named';
    } else if (decision === 'ok' || decision === 'ok_simultaneous') {
      r.sendStatus(decision);
      status = decision;
    } else if (decision === 'alive') {
      r.sendStatus('alive');
      const reply = (await r.next()).toString('latin1');
      if (reply === 'sfalse') throw new DistError('ERR_HANDSHAKE_REFUSED', `${peer} kept its old connection`, { peer });
      if (reply !== 'strue') throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'malformed reply to alive', { peer });
      status = 'alive';
    } else {
      r.sendStatus(decision);
      const code = decision === 'nok' ? 'ERR_HANDSHAKE_SIMULTANEOUS' : 'ERR_HANDSHAKE_REFUSED';
      throw new DistError(code, `refused ${peer} (${decision})`, { peer });
    }

    // A NAME_ME peer must find NAME_ME in our flags too (OTP's dist_util checks the
    // intersection); OTP also leaves PUBLISHED out towards a dynamically named node.
    const ourFlags = dynamic ? ((o.flags ?? DEFAULT_DFLAGS) & ~DFLAG.PUBLISHED) | DFLAG.NAME_ME : (o.flags ?? DEFAULT_DFLAGS);
    const ourChallenge = challenge32();
    r.send(encodeN(ourFlags, o.creation, o.name, ourChallenge));
    const reply = await r.next();
    if (reply.length !== 21 || reply[0] !== 0x72) throw new DistError('ERR_HANDSHAKE_PROTOCOL', 'malformed challenge reply', { peer });
    const cookie = cookieFor(o, peer);
    if (!reply.subarray(5).equals(genDigest(ourChallenge, cookie))) {
      throw new DistError('ERR_BAD_COOKIE', `connection attempt from ${peer} rejected: invalid challenge reply (the cookies differ); ${COOKIE_HINT}`, {
        peer,
      });
    }
    const result: HandshakeResult = {
      socket,
      tcpSocket: tcp,
      peer,
      peerFlags,
      flags: ourFlags & peerFlags & ~DFLAG.NAME_ME,
      peerCreation,
      name: o.name,
      creation: o.creation,
      initiator: false,
      status,
      leftover: Buffer.alloc(0),
    };
    if (o.beforeAck) await o.beforeAck(result);
    const ack = Buffer.allocUnsafe(17);
    ack[0] = 0x61; // 'a'
    genDigest(reply.readUInt32BE(1), cookie).copy(ack, 1);
    r.send(ack);
    result.leftover = r.detach();
    return result;
  });
}
