// Dialing a node by name: PORT_PLEASE2 at the peer host's EPMD, a TCP
// connection, and the initiator handshake. The node layer wraps the result in
// a DistConnection.
import type { Socket } from 'node:net';
import { EpmdClient, EpmdError, type EpmdClientOptions } from '../epmd/index.js';
import { connectWithDeadline } from '../deadline.js';
import { DistError } from './errors.js';
import { initiateHandshake, splitNodeName, type HandshakeResult, type InitiateOptions } from './handshake.js';

/** Options of {@link dial}. */
export interface DialOptions extends Omit<InitiateOptions, 'peer'> {
  /** The EPMD to ask (its `host` is replaced by the peer's host); default port `$ERL_EPMD_PORT` or 4369. */
  epmd?: EpmdClient | EpmdClientOptions;
  /** Connect to this port and skip the EPMD lookup. */
  port?: number;
  /** Connect to this address instead of the host part of the node name. */
  address?: string;
}

/** Opens a TCP connection, with the handshake's deadline and abort signal. */
export function connectTcp(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return connectWithDeadline(host, port, { timeoutMs, signal }, {
    timeout: () => new DistError('ERR_HANDSHAKE_TIMEOUT', `connecting to ${host}:${port} timed out`),
    abort: (reason) => new DistError('ERR_ABORTED', 'dial aborted', { cause: reason }),
    failed: (e) => new DistError('ERR_UNREACHABLE', `cannot connect to ${host}:${port}: ${e.message}`, { cause: e }),
  });
}

/**
 * Looks `peer` (`name@host`) up in its host's EPMD, connects and runs the
 * initiator handshake. Rejects with `ERR_NODE_NOT_FOUND` when the EPMD does
 * not know the node, `ERR_UNREACHABLE` when nothing answers, or any handshake
 * error.
 */
export async function dial(peer: string, o: DialOptions): Promise<HandshakeResult> {
  const parts = splitNodeName(peer);
  if (!parts) throw new DistError('ERR_HANDSHAKE_NAME', `invalid node name ${JSON.stringify(peer)}`);
  const address = o.address ?? parts.host;
  const timeoutMs = o.timeoutMs ?? 7000;
  let port = o.port;
  if (port === undefined) {
    const epmd = o.epmd instanceof EpmdClient ? o.epmd : new EpmdClient(o.epmd);
    let info;
    try {
      info = await epmd.portPlease(parts.alive, { host: address, signal: o.signal, timeoutMs });
    } catch (e) {
      const code = (e as EpmdError).code === 'ERR_ABORTED' ? 'ERR_ABORTED' : 'ERR_UNREACHABLE';
      throw new DistError(code, `EPMD lookup of ${peer} failed: ${(e as Error).message}`, { cause: e, peer });
    }
    if (!info) {
      throw new DistError(
        'ERR_NODE_NOT_FOUND',
        `${peer} is not registered in the EPMD at ${epmd.where(address)}; is it running, and registered with that EPMD (\`epmd -names\`)?`,
        { peer },
      );
    }
    if (info.highestVersion < 6) {
      throw new DistError('ERR_HANDSHAKE_REFUSED', `${peer} speaks distribution version ${info.highestVersion} only (OTP 22 or older)`, {
        peer,
      });
    }
    port = info.port;
  }
  const socket = await connectTcp(address, port, timeoutMs, o.signal);
  return initiateHandshake(socket, { ...o, peer });
}
