// Starting a node: options, the listen socket, the EPMD registration (with
// an embedded EPMD when asked and none is running) and the creation.
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_DFLAGS, DFLAG, type DistConnectionOptions, type DistTlsOptions } from '../dist/index.js';
import { EpmdClient, EpmdError, EpmdServer, type EpmdRegistration } from '../epmd/index.js';
import type { BackoffOptions } from '../backoff.js';
import { NodeError } from './errors.js';
import { defaultListenHost, parseNodeName, type NodeName } from './names.js';
import type { ReconnectOptions } from './reconnect.js';
import { DEFAULT_MAX_PENDING_HANDSHAKES } from './peers.js';
import { silentLogger, type Logger } from './diagnostics.js';
import type { MemoryGuardOptions } from './guard.js';

/** Where the node's EPMD is. */
export type EpmdOption =
  | {
      /** EPMD host; default `127.0.0.1`. */
      host?: string;
      /** EPMD port; default `$ERL_EPMD_PORT` or 4369. */
      port?: number;
      /** Deadline of one EPMD request; default 10 000 ms. */
      timeoutMs?: number;
      /** How the registration is retried when the EPMD goes away (default: 100 ms doubling to 5 s, forever). */
      reconnect?: BackoffOptions;
    }
  | {
      /**
       * Use the EPMD on `port` if one runs, else start beambridge's embedded
       * EPMD there (listening on 127.0.0.1). The node stops it when it stops,
       * which also unregisters any other node that registered with it.
       */
      embedded: true;
      port?: number;
      timeoutMs?: number;
      reconnect?: BackoffOptions;
    };

/** Options of `Node.start`. */
export interface NodeOptions {
  /** `alive@host` (a long name, e.g. `web1@127.0.0.1`), or `alive` for a short name on this host. */
  name: string;
  /** The cookie, or a function giving the cookie per peer; default the contents of `~/.erlang.cookie`. */
  cookie?: string | ((peer: string) => string);
  /** A hidden node (default true): it does not join the peers' global name space and is listed only by `nodes(hidden)`. */
  hidden?: boolean;
  epmd?: EpmdOption;
  /** The distribution listen socket; default port 0 (any) on the name's IP, or all interfaces for a host name. */
  listen?: { host?: string; port?: number };
  /** net_ticktime in seconds (default 60): a peer silent for about this long is dropped. */
  netTicktime?: number;
  /** Per-step handshake deadline in milliseconds (OTP's net_setuptime); default 7000. */
  setupTimeoutMs?: number;
  /** Decode integral floats as `Float` (so `1.0` stays a float when echoed back); default false. */
  lossless?: boolean;
  /**
   * The most elements one incoming term may decode to (every element of
   * every tuple, list and map; see `DecodeOptions.maxElements`); default 10
   * million. A message over it is refused before it is built, with a
   * `DecodeError` `ERR_DECODE_TOO_MANY_ELEMENTS` as the cause of the
   * connection's `ERR_DIST_PROTOCOL` close (as any undecodable message).
   */
  maxElements?: number;
  /**
   * Run the distribution over TLS in both directions, as OTP's `-proto_dist
   * inet_tls` (EPMD is unchanged). Certificates are checked by default both
   * ways (see `DistTlsOptions`: `{ ca, cert, key }` and policy fields), and the
   * cookie is still checked. Every peer must then speak TLS distribution.
   */
  tls?: DistTlsOptions;
  /**
   * Bytes buffered for one peer (encoded and not yet written to its socket)
   * at which the connection counts as busy, like OTP's
   * `dist_buf_busy_limit`; default 1 MiB.
   */
  busyLimitBytes?: number;
  /**
   * What a message send does when the peer's connection is busy (a slow or
   * frozen peer that does not read):
   * - `'wait'` (default): the message is queued anyway and `p.send` returns
   *   false; the sender is expected to wait (`await node.waitWritable(peer)`,
   *   or send with `await p.sendAsync(...)`, which waits by itself). Memory
   *   stays bounded as long as senders wait.
   * - `'error'`: `p.send` throws NodeError `ERR_BUSY` and queues nothing, so
   *   the buffer never holds more than the limit plus one message (the
   *   messages accepted before are written in order).
   * The node's own signals (replies, exits, link and monitor signals, acks)
   * are never refused; they are small.
   */
  onBusy?: 'wait' | 'error';
  /** How messages waiting for a peer that could not be reached are retried (see `ReconnectOptions`). */
  reconnect?: ReconnectOptions;
  /**
   * Incoming handshakes in progress (peers that connected and have not yet
   * passed the cookie check) at most; a connection beyond is closed at once,
   * before anything is read from it. Established connections are not
   * affected. Default 256.
   */
  maxPendingHandshakes?: number;
  /** The default mailbox bound of this node's processes (see `SpawnOptions.mailboxLimit`); default none. */
  mailboxLimit?: number;
  /**
   * Refuse new work (`ERR_OVERLOADED`) and end the longest mailbox before
   * V8's heap is exhausted (see `MemoryGuardOptions` for the policy and the
   * defaults), or `false` to turn the guard off. On by default.
   */
  memoryGuard?: MemoryGuardOptions | false;
  /** Where the node logs (connections, handshake failures, crashes, overloads): any object with debug/info/warn/error. Default: silent. */
  logger?: Logger;
  /** More settings of every connection (fragment size, keepalive, tick intensity...). */
  connection?: Omit<DistConnectionOptions, 'tickTimeMs' | 'onBusy'>;
  /** Aborts the start (EPMD registration). */
  signal?: AbortSignal;
}

/** Everything a started node holds; made by {@link prepareNode}. */
export interface NodeSetup {
  name: NodeName;
  cookie: string | ((peer: string) => string);
  hidden: boolean;
  creation: number;
  flags: bigint;
  server: Server;
  /** Sockets accepted before the node took over the server. */
  early: Socket[];
  listenPort: number;
  epmd: EpmdClient;
  registration: EpmdRegistration;
  embeddedEpmd: EpmdServer | undefined;
  tickTimeMs: number;
  setupTimeMs: number;
  connection: DistConnectionOptions;
  tls: DistTlsOptions | undefined;
  onBusy: 'wait' | 'error';
  reconnect: ReconnectOptions | undefined;
  maxPendingHandshakes: number;
  mailboxLimit: number;
  memoryGuard: MemoryGuardOptions | false;
  logger: Logger;
}

/**
 * The flags a beambridge node advertises: the dist layer's defaults plus what
 * the node layer handles end to end: SEND_SENDER (received as a send with a
 * sender, used for our sends), EXIT_PAYLOAD (the payload exit variants are
 * parsed and sent), ALIAS (process aliases and ALIAS_SEND); PUBLISHED for a
 * visible node; SPAWN when `spawn` is set (the node then answers
 * SPAWN_REQUEST: src/otp's Node does, for erpc and exposed functions). Not
 * ALTACT_SIG (OTP 28+ then falls back to ALIAS_SEND).
 */
export function nodeFlags(hidden: boolean, spawn = false): bigint {
  return DEFAULT_DFLAGS | DFLAG.SEND_SENDER | DFLAG.EXIT_PAYLOAD | DFLAG.ALIAS | (hidden ? 0n : DFLAG.PUBLISHED) | (spawn ? DFLAG.SPAWN : 0n);
}

function defaultCookie(): string {
  try {
    const c = readFileSync(join(homedir(), '.erlang.cookie'), 'latin1').trim();
    if (c !== '') return c;
  } catch {
    /* below */
  }
  throw new NodeError('ERR_NO_COOKIE', 'no cookie given and ~/.erlang.cookie cannot be read');
}

async function listen(host: string, port: number, early: Socket[]): Promise<Server> {
  const server = createServer((s) => early.push(s));
  server.listen({ host, port });
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e))]);
  } catch (e) {
    throw new NodeError('ERR_LISTEN', `cannot listen on ${host}:${port}: ${(e as Error).message}`, { cause: e });
  }
  return server;
}

async function register(
  o: NodeOptions,
  alive: string,
  port: number,
): Promise<{ epmd: EpmdClient; registration: EpmdRegistration; embedded: EpmdServer | undefined }> {
  const eo = o.epmd ?? {};
  const embedded = 'embedded' in eo && eo.embedded;
  const epmd = new EpmdClient({ host: 'host' in eo ? eo.host : undefined, port: eo.port, timeoutMs: eo.timeoutMs });
  // OTP registers every node, hidden or not, as a normal node (type 77).
  const reg = () => epmd.register({ name: alive, port, signal: o.signal, reconnect: eo.reconnect });
  try {
    return { epmd, registration: await reg(), embedded: undefined };
  } catch (e) {
    if (!embedded || (e as EpmdError).code !== 'ERR_EPMD_UNREACHABLE') throw e;
  }
  let server: EpmdServer | undefined;
  try {
    server = await EpmdServer.start({ host: '127.0.0.1', port: epmd.port });
  } catch {
    // Someone else started one in between: use it.
    return { epmd, registration: await reg(), embedded: undefined };
  }
  try {
    return { epmd, registration: await reg(), embedded: server };
  } catch (e) {
    await server.close();
    throw e;
  }
}

/**
 * Parses the options, listens, registers with EPMD. Undoes everything on
 * failure. `spawn` adds DFLAG_SPAWN to the flags (for a node that answers
 * SPAWN_REQUEST).
 */
export async function prepareNode(o: NodeOptions, spawn = false): Promise<NodeSetup> {
  const name = parseNodeName(o.name);
  const cookie = o.cookie ?? defaultCookie();
  const hidden = o.hidden ?? true;
  const ticktime = o.netTicktime ?? 60;
  if (!(ticktime > 0)) throw new NodeError('ERR_BAD_NAME', `netTicktime must be positive, not ${ticktime}`);
  const early: Socket[] = [];
  const server = await listen(o.listen?.host ?? defaultListenHost(name.host), o.listen?.port ?? 0, early);
  const addr = server.address();
  const listenPort = typeof addr === 'object' && addr !== null ? addr.port : 0;
  let r;
  try {
    r = await register(o, name.alive, listenPort);
  } catch (e) {
    server.close();
    for (const s of early) s.destroy();
    throw e;
  }
  const tickTimeMs = Math.round(ticktime * 1000);
  return {
    name,
    cookie,
    hidden,
    creation: r.registration.creation,
    flags: nodeFlags(hidden, spawn),
    server,
    early,
    listenPort,
    epmd: r.epmd,
    registration: r.registration,
    embeddedEpmd: r.embedded,
    tickTimeMs,
    setupTimeMs: o.setupTimeoutMs ?? 7000,
    tls: o.tls,
    onBusy: o.onBusy ?? 'wait',
    reconnect: o.reconnect,
    maxPendingHandshakes: o.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES,
    mailboxLimit: o.mailboxLimit ?? Infinity,
    memoryGuard: o.memoryGuard ?? {},
    logger: o.logger ?? silentLogger,
    connection: {
      ...o.connection,
      busyLimitBytes: o.busyLimitBytes ?? o.connection?.busyLimitBytes,
      // The node applies `onBusy` to messages itself; its own signals must never be refused.
      onBusy: 'wait',
      tickTimeMs,
      decoder: {
        ...o.connection?.decoder,
        decodeOptions: {
          ...o.connection?.decoder?.decodeOptions,
          lossless: o.lossless ?? false,
          maxElements: o.maxElements ?? o.connection?.decoder?.decodeOptions?.maxElements,
        },
      },
    },
  };
}
