/**
 * The one keepalive helper: TCP keepalive and TCP_USER_TIMEOUT on a socket,
 * for distribution connections (src/dist) and Thrift client sockets
 * (src/thrift) alike.
 *
 * Node sets SO_KEEPALIVE and the idle time itself; the probe interval, the
 * probe count and TCP_USER_TIMEOUT need `net-keepalive`, whose FFI binding is
 * a native module. It is loaded here on the first socket that asks, never at
 * import: importing the codec (or the whole package) loads no native code.
 * Where the binding cannot load, sockets keep the OS defaults for those three.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

/** TCP keepalive and user-timeout settings of a socket. Each layer documents its defaults. */
export interface KeepAliveOptions {
  /** Idle time before the first keepalive probe, ms. */
  idleMs?: number;
  /** Time between probes, ms. */
  intervalMs?: number;
  /** Unanswered probes before the kernel drops the connection. */
  probes?: number;
  /** TCP_USER_TIMEOUT: how long written data may stay unacknowledged before the connection drops, ms. */
  userTimeoutMs?: number;
}

interface NetKeepAlive {
  setKeepAliveInterval(s: Socket, ms: number): boolean;
  setKeepAliveProbes(s: Socket, n: number): boolean;
  setUserTimeout(s: Socket, ms: number): boolean;
}

let binding: NetKeepAlive | null | undefined;

/** @internal `net-keepalive`, loaded on first use; null where it cannot load. */
export function keepAliveBinding(): NetKeepAlive | null {
  if (binding === undefined) {
    try {
      binding = createRequire(import.meta.url)('net-keepalive') as NetKeepAlive;
    } catch {
      binding = null;
    }
  }
  return binding;
}

/**
 * @internal Turns keepalive on for `socket` with `o`, each setting defaulting
 * to `defaults`. Best effort: false when the platform refused a setting (the
 * socket is usable either way).
 */
export function applyKeepAlive(socket: Socket, o: KeepAliveOptions, defaults: Required<KeepAliveOptions>): boolean {
  try {
    socket.setKeepAlive(true, o.idleMs ?? defaults.idleMs);
    const k = keepAliveBinding();
    if (k === null) return false;
    k.setKeepAliveInterval(socket, o.intervalMs ?? defaults.intervalMs);
    k.setKeepAliveProbes(socket, o.probes ?? defaults.probes);
    k.setUserTimeout(socket, o.userTimeoutMs ?? defaults.userTimeoutMs);
    return true;
  } catch {
    return false;
  }
}
