/**
 * MessagePack to terms: {@link fromMsgpack} (the mapping is described in
 * msgpack.ts, which re-exports this). Iterative, so any nesting depth is safe;
 * binaries are zero-copy views of the input.
 */
import { ExtData } from '@msgpack/msgpack';
import { DecodeError, type DecodeErrorCode } from './errors.js';
import { atom, Float, Fun, ImproperList, Pid, Tuple, type Term } from './types.js';
import {
  EXT_ATOM,
  EXT_FUN,
  EXT_IMPROPER,
  EXT_LOCAL,
  EXT_TUPLE,
  erlangExtensionCodec,
  payloadError,
  readName,
  scalarTerm,
  UNDEFINED,
} from './msgpack-ext.js';

// What an open array becomes: announced by a marker extension at its head.
const A_LIST = 0;
const A_TUPLE = 1;
const A_IMPROPER = 2;
const A_FUN = 3;

type Frame = {
  kind: number;
  items: Term[];
  left: number;
  map: Map<Term, Term> | null;
  key: Term;
  at: number;
  fun: Uint8Array | null;
};

// Decoder state, module-wide so that small messages pay for no closures.
const NO_INPUT = new Uint8Array(0);
const NO_VIEW = new DataView(NO_INPUT.buffer);
let D: Uint8Array = NO_INPUT;
let V: DataView = NO_VIEW;
let P = 0;
let END = 0;
const frames: Frame[] = [];

function fail(code: DecodeErrorCode, msg: string, at: number, tag?: number): never {
  throw new DecodeError(code, msg, at, tag);
}

function need(n: number, at: number): void {
  if (P + n > END) fail('ERR_DECODE_TRUNCATED', 'msgpack input ends early', at);
}

function take(n: number, at: number): Uint8Array {
  need(n, at);
  P += n;
  return D.subarray(P - n, P);
}

/** A Buffer view of the next n bytes (shares memory with the input). */
function bin(n: number, at: number): Buffer {
  need(n, at);
  P += n;
  return Buffer.from(D.buffer, D.byteOffset + P - n, n);
}

// The last extension header read: payload length and type.
let extLen = 0;
let extType = 0;

/** Reads an extension header (P is past its first byte `b`) into extLen and extType. */
function extHead(b: number, at: number): void {
  extLen = 1 << (b - 0xd4);
  if (b < 0xd4) {
    const w = b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4; // ext 8, 16, 32
    need(w, at);
    extLen = w === 1 ? D[P] : w === 2 ? V.getUint16(P) : V.getUint32(P);
    P += w;
  }
  need(1, at);
  extType = V.getInt8(P++);
}

function isExt(b: number): boolean {
  return (b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8);
}

/** An extension that is neither ours nor a marker. */
function foreignExt(type: number, data: Uint8Array): Term {
  // A decoder registered on erlangExtensionCodec may make a term of it (and may
  // call fromMsgpack itself: keep our state); otherwise keep the bytes.
  const saved = [D, V, P, END] as const;
  const x = erlangExtensionCodec.decode(data, type, undefined);
  [D, V, P, END] = saved;
  return x instanceof ExtData || x instanceof Date ? new Tuple([atom('msgpack_ext'), type, Buffer.from(data)]) : (x as Term);
}

/**
 * Decodes one MessagePack object to a term (see the module comment). Throws
 * {@link DecodeError} for malformed or truncated input and trailing bytes.
 */
export function fromMsgpack(bytes: Uint8Array): Term {
  const base = frames.length === 0 ? 0 : -1;
  if (base < 0) {
    // Re-entered from an extension decoder: run on fresh state.
    const saved = [D, V, P, END, frames.splice(0)] as const;
    try {
      return fromMsgpack(bytes);
    } finally {
      [D, V, P, END] = saved;
      frames.push(...saved[4]);
    }
  }
  D = bytes;
  V = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  P = 0;
  END = bytes.length;
  try {
    return decodeLoop();
  } finally {
    frames.length = 0;
    D = NO_INPUT; // do not keep the caller's bytes alive
    V = NO_VIEW;
  }
}

function decodeLoop(): Term {
  const d = D;
  const stack = frames;
  for (;;) {
    const at = P;
    need(1, at);
    const b = d[P++];
    let value: Term;
    let count = -1; // array items or map entries to open
    let isMap = false;
    if (b <= 0x7f) value = b;
    else if (b >= 0xe0) value = b - 0x100;
    else if (b <= 0x9f) {
      count = b & 0x0f;
      isMap = b <= 0x8f;
    } else if (b <= 0xbf) value = bin(b & 0x1f, at);
    else {
      switch (b) {
        case 0xc0: value = UNDEFINED; break;
        case 0xc2: value = false; break;
        case 0xc3: value = true; break;
        case 0xc4: case 0xd9: need(1, at); value = bin(d[P++], at); break;
        case 0xc5: case 0xda: need(2, at); P += 2; value = bin(V.getUint16(P - 2), at); break;
        case 0xc6: case 0xdb: need(4, at); P += 4; value = bin(V.getUint32(P - 4), at); break;
        case 0xca: case 0xcb: {
          need(b === 0xca ? 4 : 8, at);
          const x = b === 0xca ? V.getFloat32(P) : V.getFloat64(P);
          P += b === 0xca ? 4 : 8;
          if (!Number.isFinite(x)) fail('ERR_DECODE_BAD_FLOAT', `${x} is not an Erlang float`, at, b);
          value = Number.isInteger(x) ? new Float(x) : x;
          break;
        }
        case 0xcc: need(1, at); value = d[P++]; break;
        case 0xcd: need(2, at); value = V.getUint16(P); P += 2; break;
        case 0xce: need(4, at); value = V.getUint32(P); P += 4; break;
        case 0xd0: need(1, at); value = V.getInt8(P++); break;
        case 0xd1: need(2, at); value = V.getInt16(P); P += 2; break;
        case 0xd2: need(4, at); value = V.getInt32(P); P += 4; break;
        case 0xcf: case 0xd3: {
          need(8, at);
          const hi = b === 0xcf ? V.getUint32(P) : V.getInt32(P);
          if (hi < 0x200000 && hi > -0x200000) value = hi * 0x100000000 + V.getUint32(P + 4);
          else {
            const x = b === 0xcf ? V.getBigUint64(P) : V.getBigInt64(P);
            value = x >= -9007199254740991n && x <= 9007199254740991n ? Number(x) : x;
          }
          P += 8;
          break;
        }
        case 0xdc: need(2, at); count = V.getUint16(P); P += 2; break;
        case 0xdd: need(4, at); count = V.getUint32(P); P += 4; break;
        case 0xde: need(2, at); count = V.getUint16(P); P += 2; isMap = true; break;
        case 0xdf: need(4, at); count = V.getUint32(P); P += 4; isMap = true; break;
        case 0xc1: return fail('ERR_DECODE_UNKNOWN_TAG', 'msgpack byte 0xc1 is never used', at, b);
        default: {
          // Extensions: fixext 1/2/4/8/16 (0xd4-0xd8) and ext 8/16/32 (0xc7-0xc9).
          extHead(b, at);
          const n = extLen;
          const type = extType;
          if (type === EXT_ATOM) {
            need(n, at);
            P += n;
            value = readName(d, P - n, P, at, type);
            break;
          }
          const data = take(n, at);
          if (type === EXT_TUPLE || type === EXT_IMPROPER || type === EXT_FUN) {
            return fail('ERR_DECODE_BAD_TERM', 'msgpack marker extension outside the head of an array', at, type);
          }
          value = type > 0 && type <= EXT_LOCAL ? scalarTerm(type, data, at) : foreignExt(type, data);
        }
      }
    }
    if (count >= 0) {
      // Every item takes at least one byte: refuse counts the input cannot hold.
      if (count > END - P) fail('ERR_DECODE_BAD_LENGTH', `msgpack ${isMap ? 'map' : 'array'} of ${count} cannot fit`, at, b);
      let kind = A_LIST;
      let fun: Uint8Array | null = null;
      if (!isMap && count > 0 && isExt(d[P])) {
        // A marker at the head says what the array stands for.
        const mark = P++;
        extHead(d[mark], mark);
        const type = extType;
        if (type === EXT_TUPLE || type === EXT_IMPROPER) {
          if (extLen !== 0) fail('ERR_DECODE_BAD_TERM', 'msgpack marker with a payload', mark, type);
          kind = type === EXT_TUPLE ? A_TUPLE : A_IMPROPER;
          count--;
        } else if (type === EXT_FUN) {
          fun = take(extLen, mark);
          kind = A_FUN;
          count--;
        } else P = mark;
      }
      if (count > 0) {
        stack.push({ kind, items: [], left: isMap ? 2 * count : count, map: isMap ? new Map() : null, key: undefined, at, fun });
        continue;
      }
      value = isMap ? new Map() : finishArray(kind, [], at, fun);
    }
    // Hand the value to the open containers, closing those that are full.
    for (;;) {
      const f = stack[stack.length - 1];
      if (f === undefined) {
        if (P !== END) fail('ERR_DECODE_TRAILING', 'bytes left after the msgpack object', P);
        return value;
      }
      if (f.map !== null) {
        if (f.left-- % 2 === 0) f.key = value;
        else f.map.set(f.key, value);
      } else {
        f.items.push(value);
        f.left--;
      }
      if (f.left > 0) break;
      stack.pop();
      value = f.map ?? finishArray(f.kind, f.items, f.at, f.fun);
    }
  }
}

/** The list, tuple, improper list or fun an array stands for. */
function finishArray(kind: number, items: Term[], at: number, fun: Uint8Array | null): Term {
  if (kind === A_LIST) return items;
  if (kind === A_TUPLE) return new Tuple(items);
  if (kind === A_IMPROPER) {
    if (items.length < 2) payloadError('ERR_DECODE_BAD_TERM', 'improper list without head or tail', at, EXT_IMPROPER);
    const tail = items.pop()!;
    if (Array.isArray(tail)) return items.concat(tail);
    if (tail instanceof ImproperList) return new ImproperList(items.concat(tail.elements), tail.tail);
    return new ImproperList(items, tail);
  }
  const d = fun!;
  const [oldIndex, oldUniq, pid] = items;
  if (d.length < 21 || !(pid instanceof Pid) || !isInt(oldIndex) || !isInt(oldUniq)) {
    return payloadError('ERR_DECODE_BAD_TERM', 'malformed local fun', at, EXT_FUN);
  }
  const index = new DataView(d.buffer, d.byteOffset).getUint32(1);
  const module = readName(d, 21, d.length, at, EXT_FUN);
  return new Fun(d[0], Buffer.from(d.subarray(5, 21)), index, module, oldIndex, oldUniq, pid, items.slice(3));
}

function isInt(t: Term): t is number | bigint {
  return typeof t === 'bigint' || Number.isInteger(t);
}
