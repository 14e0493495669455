// EPMD wire format: request builders and incremental reply parsers, shared by
// the client and the embedded server. Spec: erl_dist_protocol, "EPMD Protocol".
// Every request is preceded by a 2-byte big-endian length; replies are not
// length-prefixed, so parsers take the bytes received so far and return
// `undefined` while the reply is still incomplete.
import { EpmdError } from './errors.js';

/** The well-known EPMD port. */
export const EPMD_DEFAULT_PORT = 4369;

/** Request and reply tags (erl_dist_protocol, "EPMD Protocol"). */
export const EPMD = {
  ALIVE2_REQ: 120,
  ALIVE2_X_RESP: 118,
  ALIVE2_RESP: 121,
  PORT_PLEASE2_REQ: 122,
  PORT2_RESP: 119,
  NAMES_REQ: 110,
  DUMP_REQ: 100,
  KILL_REQ: 107,
  STOP_REQ: 115,
} as const;

/** ALIVE2_REQ NodeType: a normal node. */
export const NODE_TYPE_NORMAL = 77;
/** ALIVE2_REQ NodeType: a hidden node (C node). */
export const NODE_TYPE_HIDDEN = 72;
/** ALIVE2_REQ Protocol: TCP/IPv4 (the only value in use). */
export const PROTOCOL_TCP = 0;
/** Distribution versions spoken since OTP 23 (handshake version 6). */
export const DIST_VERSION_HIGH = 6;
export const DIST_VERSION_LOW = 6;

/** What a node registers in EPMD, and what PORT_PLEASE2 answers. */
export interface EpmdNodeInfo {
  /** The alive name, the part of the node name before `@`. */
  name: string;
  /** The port the node accepts distribution connections on. */
  port: number;
  /** {@link NODE_TYPE_NORMAL} or {@link NODE_TYPE_HIDDEN}. */
  nodeType: number;
  /** {@link PROTOCOL_TCP}. */
  protocol: number;
  highestVersion: number;
  lowestVersion: number;
  /** The opaque Extra field (usually empty). */
  extra: Buffer;
}

/** One line of a NAMES reply. */
export interface EpmdNameEntry {
  name: string;
  port: number;
}

/** Fills in the defaults of an {@link EpmdNodeInfo}. */
export function nodeInfo(o: Partial<EpmdNodeInfo> & { name: string; port: number }): EpmdNodeInfo {
  return {
    name: o.name,
    port: o.port,
    nodeType: o.nodeType ?? NODE_TYPE_NORMAL,
    protocol: o.protocol ?? PROTOCOL_TCP,
    highestVersion: o.highestVersion ?? DIST_VERSION_HIGH,
    lowestVersion: o.lowestVersion ?? DIST_VERSION_LOW,
    extra: o.extra ?? Buffer.alloc(0),
  };
}

/** Validates an alive name and returns its UTF-8 bytes. */
export function nameBytes(name: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (name.length === 0 || [...name].length > 255 || name.includes('@') || !isWellFormed(name)) {
    throw new EpmdError('ERR_EPMD_BAD_NAME', `invalid EPMD node name ${JSON.stringify(name)}`);
  }
  return b;
}

function isWellFormed(s: string): boolean {
  // A lone surrogate would be silently replaced by U+FFFD when encoded.
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

function withLength(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

/** ALIVE2_REQ (120), with its 2-byte length prefix. */
export function encodeAlive2Req(info: EpmdNodeInfo): Buffer {
  const name = nameBytes(info.name);
  const body = Buffer.allocUnsafe(13 + name.length + info.extra.length);
  writeNodeInfo(body, body.writeUInt8(EPMD.ALIVE2_REQ, 0), info, name);
  return withLength(body);
}

/**
 * The node description shared by ALIVE2_REQ and PORT2_RESP (erl_dist_protocol,
 * "Register a Node in EPMD" and "Get the Distribution Port of Another Node"):
 * PortNo:16, NodeType:8, Protocol:8, HighestVersion:16, LowestVersion:16,
 * Nlen:16, NodeName, Elen:16, Extra. Writes it at `o` in `b`.
 */
function writeNodeInfo(b: Buffer, o: number, info: EpmdNodeInfo, name: Buffer): void {
  o = b.writeUInt16BE(info.port, o);
  o = b.writeUInt8(info.nodeType, o);
  o = b.writeUInt8(info.protocol, o);
  o = b.writeUInt16BE(info.highestVersion, o);
  o = b.writeUInt16BE(info.lowestVersion, o);
  o = b.writeUInt16BE(name.length, o);
  o += name.copy(b, o);
  o = b.writeUInt16BE(info.extra.length, o);
  info.extra.copy(b, o);
}

/** PORT_PLEASE2_REQ (122), with its 2-byte length prefix. */
export function encodePortPlease2Req(name: string): Buffer {
  return withLength(Buffer.concat([Buffer.of(EPMD.PORT_PLEASE2_REQ), nameBytes(name)]));
}

/** NAMES_REQ (110), with its 2-byte length prefix. */
export function encodeNamesReq(): Buffer {
  return withLength(Buffer.of(EPMD.NAMES_REQ));
}

/** Parses the body of an ALIVE2_REQ (from the tag byte on). */
export function parseAlive2Req(body: Buffer): EpmdNodeInfo {
  const bad = () => new EpmdError('ERR_EPMD_PROTOCOL', 'malformed ALIVE2_REQ');
  if (body.length < 13 || body[0] !== EPMD.ALIVE2_REQ) throw bad();
  const nlen = body.readUInt16BE(9);
  if (body.length < 13 + nlen) throw bad();
  const elen = body.readUInt16BE(11 + nlen);
  if (body.length !== 13 + nlen + elen) throw bad();
  const name = decodeUtf8(body.subarray(11, 11 + nlen));
  if (name === undefined || name.length === 0 || [...name].length > 255) throw bad();
  return {
    name,
    port: body.readUInt16BE(1),
    nodeType: body[3],
    protocol: body[4],
    highestVersion: body.readUInt16BE(5),
    lowestVersion: body.readUInt16BE(7),
    extra: Buffer.from(body.subarray(13 + nlen)),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decode; `undefined` for invalid input. */
export function decodeUtf8(b: Uint8Array): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

/** ALIVE2_X_RESP (118, 32-bit creation) or, for old clients, ALIVE2_RESP (121). */
export function encodeAlive2Resp(result: number, creation: number, extended: boolean): Buffer {
  if (extended) {
    const b = Buffer.allocUnsafe(6);
    b[0] = EPMD.ALIVE2_X_RESP;
    b[1] = result;
    b.writeUInt32BE(creation >>> 0, 2);
    return b;
  }
  const b = Buffer.allocUnsafe(4);
  b[0] = EPMD.ALIVE2_RESP;
  b[1] = result;
  b.writeUInt16BE(creation & 0xffff, 2);
  return b;
}

/** The result of an ALIVE2 request: `result` 0 is success. */
export interface Alive2Reply {
  result: number;
  creation: number;
  /** Bytes the reply took. */
  length: number;
}

/** Parses ALIVE2_X_RESP / ALIVE2_RESP; `undefined` until complete. */
export function parseAlive2Resp(buf: Buffer): Alive2Reply | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === EPMD.ALIVE2_X_RESP) {
    if (buf.length < 6) return undefined;
    return { result: buf[1], creation: buf.readUInt32BE(2), length: 6 };
  }
  if (buf[0] === EPMD.ALIVE2_RESP) {
    if (buf.length < 4) return undefined;
    return { result: buf[1], creation: buf.readUInt16BE(2), length: 4 };
  }
  throw new EpmdError('ERR_EPMD_PROTOCOL', `unexpected ALIVE2 reply tag ${buf[0]}`);
}

/** PORT2_RESP (119) for a found node, or `[119, 1]` when `info` is undefined. */
export function encodePort2Resp(info: EpmdNodeInfo | undefined): Buffer {
  if (info === undefined) return Buffer.of(EPMD.PORT2_RESP, 1);
  const name = Buffer.from(info.name, 'utf8');
  const b = Buffer.allocUnsafe(14 + name.length + info.extra.length);
  const o = b.writeUInt8(0, b.writeUInt8(EPMD.PORT2_RESP, 0)); // Result 0: found
  writeNodeInfo(b, o, info, name);
  return b;
}

/**
 * Parses PORT2_RESP. Returns `undefined` until complete, `null` when the EPMD
 * answered "not found" (Result > 0), else the node's registration.
 */
export function parsePort2Resp(buf: Buffer): EpmdNodeInfo | null | undefined {
  if (buf.length < 2) return undefined;
  if (buf[0] !== EPMD.PORT2_RESP) throw new EpmdError('ERR_EPMD_PROTOCOL', `unexpected PORT_PLEASE2 reply tag ${buf[0]}`);
  if (buf[1] !== 0) return null;
  if (buf.length < 12) return undefined;
  const nlen = buf.readUInt16BE(10);
  if (buf.length < 14 + nlen) return undefined;
  const elen = buf.readUInt16BE(12 + nlen);
  if (buf.length < 14 + nlen + elen) return undefined;
  const name = decodeUtf8(buf.subarray(12, 12 + nlen));
  if (name === undefined) throw new EpmdError('ERR_EPMD_PROTOCOL', 'PORT2_RESP name is not UTF-8');
  return {
    name,
    port: buf.readUInt16BE(2),
    nodeType: buf[4],
    protocol: buf[5],
    highestVersion: buf.readUInt16BE(6),
    lowestVersion: buf.readUInt16BE(8),
    extra: Buffer.from(buf.subarray(14 + nlen, 14 + nlen + elen)),
  };
}

/** NAMES_RESP: the EPMD's port (4 bytes) and one text line per node. */
export function encodeNamesResp(epmdPort: number, nodes: readonly EpmdNameEntry[]): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(epmdPort, 0);
  const text = nodes.map((n) => `name ${n.name} at port ${n.port}\n`).join('');
  return Buffer.concat([head, Buffer.from(text, 'utf8')]);
}

/** Parses a complete NAMES_RESP (the EPMD closes the socket after it). */
export function parseNamesResp(buf: Buffer): { epmdPort: number; nodes: EpmdNameEntry[] } {
  if (buf.length < 4) throw new EpmdError('ERR_EPMD_PROTOCOL', 'NAMES reply shorter than 4 bytes');
  const text = decodeUtf8(buf.subarray(4));
  if (text === undefined) throw new EpmdError('ERR_EPMD_PROTOCOL', 'NAMES reply is not UTF-8');
  const nodes: EpmdNameEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^name (.+) at port (\d+)$/.exec(line);
    if (!m) throw new EpmdError('ERR_EPMD_PROTOCOL', `unexpected NAMES line ${JSON.stringify(line)}`);
    nodes.push({ name: m[1], port: Number(m[2]) });
  }
  return { epmdPort: buf.readUInt32BE(0), nodes };
}
