// Observability of a node: `node:diagnostics_channel` channels a service can
// subscribe to for its own metrics and tracing, and the `logger` option.
// Publishing costs nothing while nobody subscribes (`hasSubscribers`).
//
//   import { subscribe } from 'node:diagnostics_channel'
//   subscribe('beambridge:call:end', (e) => histogram.record((e as CallEndEvent).durationMs))
import { channel } from 'node:diagnostics_channel';
import type { Pid, Term } from '../etf/types.js';
import type { DistError } from '../dist/index.js';

/** `beambridge:connection:up`: a connection to a peer is up (either direction). */
export interface ConnectionUpEvent {
  node: string;
  peer: string;
  /** True when this node dialed. */
  initiator: boolean;
  /** The negotiated distribution flags. */
  flags: bigint;
}

/** `beambridge:connection:down`: a connection is gone; `error.code` says why. */
export interface ConnectionDownEvent {
  node: string;
  peer: string;
  error: DistError;
}

/** `beambridge:connection:handshakeError`: a handshake failed, either direction (bad cookie, not found, TLS...). */
export interface HandshakeErrorEvent {
  node: string;
  /** The peer, when known (an incoming peer may fail before it says its name). */
  peer: string | undefined;
  error: DistError;
}

/** `beambridge:send`: a process sent a message (local or remote). */
export interface SendEvent {
  node: string;
  from: Pid;
  /** The target as given to `send`. */
  to: unknown;
  /** The peer node for a remote send, undefined for a local one. */
  peer: string | undefined;
  message: Term;
}

/** `beambridge:call:start`: a call, rpc or ping started. `id` pairs it with its end. */
export interface CallStartEvent {
  node: string;
  id: number;
  kind: 'call' | 'rpc' | 'ping';
  /** The peer node (the node itself for a local call). */
  peer: string;
  /** What is called: `{name, node}` / pid text for a call, `M:F/A` for an rpc. */
  target: string;
  request: Term;
}

/** `beambridge:call:end`: the call ended; `error` is set when it failed. */
export interface CallEndEvent extends CallStartEvent {
  durationMs: number;
  error?: Error;
}

/** The channels, by name. Subscribe with `diagnostics_channel.subscribe(name, fn)`. */
export const channels = {
  connectionUp: channel('beambridge:connection:up'),
  connectionDown: channel('beambridge:connection:down'),
  handshakeError: channel('beambridge:connection:handshakeError'),
  send: channel('beambridge:send'),
  callStart: channel('beambridge:call:start'),
  callEnd: channel('beambridge:call:end'),
} as const;

let callIds = 0;

/**
 * Runs `body` as a call seen by the `call:start` / `call:end` channels (with
 * its duration), publishing only when someone listens: without listeners
 * neither the event (`start()` is not called) nor an extra promise is made.
 */
export function traced<T>(start: () => Omit<CallStartEvent, 'id'>, body: () => Promise<T>): Promise<T> {
  return callsTraced() ? tracedSlow(start(), body) : body();
}

/** Whether anyone listens to the `call:*` channels (a hot path may skip {@link traced} without). */
export function callsTraced(): boolean {
  return channels.callStart.hasSubscribers || channels.callEnd.hasSubscribers;
}

async function tracedSlow<T>(start: Omit<CallStartEvent, 'id'>, body: () => Promise<T>): Promise<T> {
  const ev: CallStartEvent = { ...start, id: ++callIds };
  const t0 = performance.now();
  channels.callStart.publish(ev);
  try {
    const r = await body();
    channels.callEnd.publish({ ...ev, durationMs: performance.now() - t0 } satisfies CallEndEvent);
    return r;
  } catch (e) {
    channels.callEnd.publish({ ...ev, durationMs: performance.now() - t0, error: e as Error } satisfies CallEndEvent);
    throw e;
  }
}

/**
 * What a node logs to: any object with these four methods (`console`, pino,
 * winston, bunyan...). `fields` carries structured context (`peer`, `code`,
 * `pid`...).
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** The default logger: says nothing. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
