// Node names, as OTP spells them: `alive@host`. A name without `@` is a short
// name on this machine (`web1` -> `web1@<first label of the hostname>`, as
// `erl -sname web1` does).
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { NodeError } from './errors.js';

/** A parsed node name. */
export interface NodeName {
  /** The full name, `alive@host`. */
  full: string;
  /** The part before `@` (what EPMD registers). */
  alive: string;
  host: string;
}

const ALIVE = /^[A-Za-z0-9_-]+$/;

/** This machine's short host name (the hostname up to its first dot). */
export function shortHostname(): string {
  const h = hostname();
  return isIP(h) ? h : h.split('.')[0];
}

/**
 * Parses a node name. `web1@127.0.0.1` stays as it is; `web1` becomes
 * `web1@<short hostname>`. Throws `ERR_BAD_NAME` for an empty part, more
 * than one `@`, characters EPMD names cannot carry, or over 255 bytes.
 */
export function parseNodeName(name: string): NodeName {
  const at = name.indexOf('@');
  const alive = at < 0 ? name : name.slice(0, at);
  const host = at < 0 ? shortHostname() : name.slice(at + 1);
  if (!ALIVE.test(alive) || host === '' || host.includes('@')) {
    throw new NodeError('ERR_BAD_NAME', `invalid node name ${JSON.stringify(name)}`);
  }
  const full = `${alive}@${host}`;
  if (Buffer.byteLength(full) > 255) throw new NodeError('ERR_BAD_NAME', `node name longer than 255 bytes: ${full}`);
  return { full, alive, host };
}

/**
 * The address to listen on for a node named on `host`: the address itself
 * when the host is an IP literal (so `web1@127.0.0.1` stays on loopback),
 * else every interface, as OTP does.
 */
export function defaultListenHost(host: string): string {
  if (isIP(host)) return host;
  return '0.0.0.0';
}
