/**
 * An annotated dissection of External Term Format bytes: every tag with its byte
 * offset, length, meaning and nesting depth, as a data structure (the CLI's
 * `beambridge etf explain` renders it). This is the view to reach for when a peer
 * sends bytes you do not believe.
 *
 * Unlike `decode`, `explain` never throws on malformed input: it returns
 * everything it could read, plus an {@link ExplainError} naming the offset and the
 * reason. The structure walk is iterative (no recursion), so deeply nested terms
 * are fine; `maxNodes` bounds the size of the result for huge terms.
 *
 * Values of leaves (and of pids, ports, references and funs) come from the codec
 * itself ({@link decodeWithLength}), and a term that walks cleanly is finally
 * decoded whole, so `explain` reports exactly the errors `decode` would raise,
 * including those it cannot see structurally (duplicate map keys).
 *
 * Spec: erl_ext_dist ("External Term Format"), one section per tag.
 */
import { inflateSync } from 'node:zlib';
import { decodeWithLength } from './decode.js';
import { DecodeError, type DecodeErrorCode } from './errors.js';
import * as T from './tags.js';
import { formatTerm } from './text.js';
import { BitBinary, type Atom, type Term } from './types.js';

/** One fixed-size field of a tag's encoding, such as `Len` or `Creation`. */
export interface ExplainField {
  /** The field's name as erl_ext_dist spells it (`Len`, `Arity`, `Creation`, ...). */
  name: string;
  /** Offset of the field's first byte (same origin as {@link ExplainNode.offset}). */
  offset: number;
  /** Size of the field in bytes. */
  length: number;
  /** The field's value, as text (a number, or hex for opaque bytes). */
  value: string;
}

/** One encoded term (or the version byte) in an {@link Explanation}. */
export interface ExplainNode {
  /**
   * Offset of the tag byte. Counted from the start of the input, or, for nodes
   * under a compressed term (`inflated: true`), from the start of the inflated data.
   */
  offset: number;
  /** Bytes the whole encoding spans: tag, fields, data and children. */
  length: number;
  /** Bytes that belong to this node itself (tag, fields, inline data), children excluded. */
  ownLength: number;
  /** Nesting depth: 0 for the version byte and the top-level term. */
  depth: number;
  /** The tag byte (131 for the version byte). */
  tag: number;
  /** The tag's name in erl_ext_dist, e.g. `SMALL_TUPLE_EXT`. */
  tagName: string;
  /** The position in the parent: `element 1`, `key 2`, `value 2`, `tail`, `node`, `module`, ... */
  role?: string;
  /** What the bytes mean, in words: `tuple of 3 elements`, `atom (UTF-8)`, ... */
  meaning: string;
  /**
   * The value in Erlang syntax, for leaves (numbers, atoms, binaries, strings) and
   * for pids, ports, references and funs. Long binaries are shortened with `...`.
   */
  value?: string;
  /** The fixed fields after the tag, in wire order. */
  fields: ExplainField[];
  /** Hex of the node's own bytes (at most {@link HEX_PREVIEW_BYTES} of them). */
  hex: string;
  /** The nested terms, in wire order (possibly cut short, see `omitted`). */
  children: ExplainNode[];
  /** True when `offset` counts from the start of the inflated data of a compressed term. */
  inflated: boolean;
  /** Children (and their descendants) walked but not listed because of `maxNodes`. */
  omitted?: number;
  /** True when the encoding ended (error) before this node was complete; `length` is then what was read. */
  incomplete?: boolean;
}

/** Where and why the bytes are not a valid external term. */
export interface ExplainError {
  /** The same code `decode` raises (`ERR_DECODE_TRUNCATED`, ...). */
  code: DecodeErrorCode;
  /** Offset of the problem (from the inflated data's start when `inflated`). */
  offset: number;
  /** The tag being read, if any. */
  tag?: number;
  /** One line, offset included. */
  message: string;
  /** True when `offset` counts from the start of the inflated data of a compressed term. */
  inflated: boolean;
}

/** The result of {@link explain}. */
export interface Explanation {
  /** Top level, in order: the version byte (when expected) and then the term. */
  nodes: ExplainNode[];
  /** Bytes of the input used by the term, version byte included, counted from `offset`. */
  length: number;
  /** Bytes after the term (an error unless `allowTrailing`). */
  trailing: number;
  /** Nodes walked but not listed because of `maxNodes`. */
  omitted: number;
  /** Set when the input is malformed; `nodes` holds everything read before the problem. */
  error?: ExplainError;
}

/** Options of {@link explain}. */
export interface ExplainOptions {
  /** Expect the 131 version byte first (default true). */
  version?: boolean;
  /** Where the term starts in the input (default 0). */
  offset?: number;
  /** ATOM_CACHE_REF index to atom, from a distribution header. */
  atomCache?: readonly (Atom | undefined)[];
  /** Cap on a compressed term's inflated size, as for `decode` (default 64 MiB). */
  maxInflatedSize?: number;
  /** List at most this many nodes (default 10,000); the rest is walked and counted. */
  maxNodes?: number;
  /** Bytes after the term are counted in `trailing` instead of being an error (default false). */
  allowTrailing?: boolean;
}

/** How many bytes of a node's own encoding {@link ExplainNode.hex} shows. */
export const HEX_PREVIEW_BYTES = 24;
const VALUE_PREVIEW_BYTES = 64;
const DEFAULT_MAX_INFLATED = 64 * 1024 * 1024;

/** erl_ext_dist tag names, by tag byte. */
export const ETF_TAG_NAMES: Readonly<Record<number, string>> = {
  70: 'NEW_FLOAT_EXT', 77: 'BIT_BINARY_EXT', 80: 'COMPRESSED', 82: 'ATOM_CACHE_REF', 88: 'NEW_PID_EXT',
  89: 'NEW_PORT_EXT', 90: 'NEWER_REFERENCE_EXT', 97: 'SMALL_INTEGER_EXT', 98: 'INTEGER_EXT', 99: 'FLOAT_EXT',
  100: 'ATOM_EXT', 101: 'REFERENCE_EXT', 102: 'PORT_EXT', 103: 'PID_EXT', 104: 'SMALL_TUPLE_EXT',
  105: 'LARGE_TUPLE_EXT', 106: 'NIL_EXT', 107: 'STRING_EXT', 108: 'LIST_EXT', 109: 'BINARY_EXT',
  110: 'SMALL_BIG_EXT', 111: 'LARGE_BIG_EXT', 112: 'NEW_FUN_EXT', 113: 'EXPORT_EXT', 114: 'NEW_REFERENCE_EXT',
  115: 'SMALL_ATOM_EXT', 116: 'MAP_EXT', 117: 'FUN_EXT', 118: 'ATOM_UTF8_EXT', 119: 'SMALL_ATOM_UTF8_EXT',
  120: 'V4_PORT_EXT', 121: 'LOCAL_EXT', 131: 'VERSION',
};

/** Internal: a malformed input, caught by {@link explain}. */
class Malformed {
  constructor(readonly code: DecodeErrorCode, readonly message: string, readonly offset: number, readonly tag?: number) {}
}

/** A container being walked: its node and how many children are still to come. */
interface Frame {
  node: ExplainNode;
  /** False when the node (and so its children) is past `maxNodes`. */
  listed: boolean;
  total: number;
  done: number;
  role(i: number): string;
  /** Reads fields that follow the children (pids, refs) and returns the end offset. */
  finish?(frame: Frame, end: number): number;
  /** Ask the codec for the whole node's value once complete (pids, funs, ...). */
  valued: boolean;
}

/** The bytes the walker reads: the input, or a compressed term's inflated data. */
interface Source {
  buf: Uint8Array;
  inflated: boolean;
}

/** One element read by {@link Walker.element}: a leaf, or a container with its frame. */
interface Element {
  node: ExplainNode;
  end: number;
  frame?: Frame;
}

/**
 * Dissects the external term at `opts.offset` of `bytes`. Never throws for
 * malformed input; see {@link Explanation.error}.
 *
 * @example
 * const x = explain(Buffer.from([131, 104, 2, 119, 2, 111, 107, 97, 42]));
 * x.nodes[1].tagName;              // 'SMALL_TUPLE_EXT'
 * x.nodes[1].children[1].value;    // '42'
 */
export function explain(bytes: Uint8Array, opts: ExplainOptions = {}): Explanation {
  const start = opts.offset ?? 0;
  const w = new Walker(opts);
  const out: Explanation = { nodes: w.top, length: 0, trailing: 0, omitted: 0 };
  let src: Source = { buf: bytes, inflated: false };
  let pos = start;
  try {
    if (opts.version !== false) {
      need(bytes, pos, 1, undefined);
      if (bytes[pos] !== T.VERSION) throw new Malformed('ERR_DECODE_BAD_VERSION', `version byte is ${bytes[pos]}, not 131`, pos);
      const v = makeNode(src, pos, 1, 0, T.VERSION, 'external term format version', [], undefined);
      v.value = '131';
      w.top.push(v);
      pos += 1;
    }
    if (opts.version !== false && bytes[pos] === T.COMPRESSED) {
      const c = compressedNode(src, pos, opts.maxInflatedSize ?? DEFAULT_MAX_INFLATED);
      w.top.push(c.node);
      src = { buf: c.inflated, inflated: true };
      const end = w.walk(src, 0, 1, c.node);
      if (end !== c.inflated.length) {
        throw new Malformed('ERR_DECODE_TRAILING', `${c.inflated.length - end} bytes after the term in the inflated data`, end);
      }
      src = { buf: bytes, inflated: false };
      pos = bytes.length;
    } else {
      pos = w.walk(src, pos, 0, undefined);
    }
    out.length = pos - start;
    out.trailing = bytes.length - pos;
    if (out.trailing > 0 && !opts.allowTrailing) {
      throw new Malformed('ERR_DECODE_TRAILING', `${out.trailing} bytes after the term`, pos);
    }
    // The structure is sound; the codec has the final word (duplicate map keys, ...).
    decodeWithLength(bytes, { ...codecOpts(opts), offset: start, version: opts.version });
  } catch (e) {
    out.error = toExplainError(authoritative(e, bytes, opts), src.inflated);
    w.markIncomplete(out.error.offset, src);
    if (out.length === 0) out.length = Math.max(0, Math.min(bytes.length, pos) - start);
  }
  out.omitted = w.omittedCount;
  return out;
}

function codecOpts(opts: ExplainOptions): { atomCache?: readonly (Atom | undefined)[]; maxInflatedSize?: number } {
  return { atomCache: opts.atomCache, maxInflatedSize: opts.maxInflatedSize };
}

/**
 * For a problem the walk found, prefers the codec's own error for the whole
 * input, so that `explain` and `decode` name the same code and offset.
 */
function authoritative(e: unknown, bytes: Uint8Array, opts: ExplainOptions): unknown {
  try {
    decodeWithLength(bytes, { ...codecOpts(opts), offset: opts.offset ?? 0, version: opts.version });
  } catch (d) {
    if (d instanceof DecodeError) return d;
  }
  return e;
}

function toExplainError(e: unknown, inflated: boolean): ExplainError {
  if (e instanceof DecodeError || e instanceof Malformed) {
    const message = e instanceof Malformed ? `${e.message} at offset ${e.offset}${e.tag === undefined ? '' : ` (tag ${e.tag})`}` : e.message;
    const err: ExplainError = { code: e.code, offset: e.offset, message, inflated };
    if (e.tag !== undefined) err.tag = e.tag;
    return err;
  }
  // Anything else is a bug in the codec or here: report it rather than crash.
  return { code: 'ERR_DECODE_BAD_TERM', offset: 0, message: `internal error: ${e instanceof Error ? e.message : String(e)}`, inflated };
}

function need(buf: Uint8Array, pos: number, n: number, tag: number | undefined): void {
  if (pos + n > buf.length) {
    throw new Malformed('ERR_DECODE_TRUNCATED', `need ${n} bytes, ${Math.max(0, buf.length - pos)} left`, pos, tag);
  }
}

function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number): number {
  return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

function hexOf(b: Uint8Array, from: number, n: number): string {
  const len = Math.max(0, Math.min(n, HEX_PREVIEW_BYTES, b.length - from));
  return Buffer.from(b.buffer, b.byteOffset + from, len).toString('hex');
}

function field(name: string, offset: number, length: number, value: string | number | bigint): ExplainField {
  return { name, offset, length, value: String(value) };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function makeNode(src: Source, offset: number, own: number, depth: number, tag: number, meaning: string, fields: ExplainField[], role: string | undefined): ExplainNode {
  const tagName = ETF_TAG_NAMES[tag] ?? `tag ${tag}`;
  const n: ExplainNode = { offset, length: own, ownLength: own, depth, tag, tagName, meaning, fields, hex: hexOf(src.buf, offset, own), children: [], inflated: src.inflated };
  if (role !== undefined) n.role = role;
  return n;
}

/** COMPRESSED (erl_ext_dist "Introduction": 131, 80, UncompressedSize:32, zlib data), inflated under the cap. */
function compressedNode(src: Source, pos: number, cap: number): { node: ExplainNode; inflated: Buffer } {
  const buf = src.buf;
  need(buf, pos + 1, 4, T.COMPRESSED);
  const size = u32(buf, pos + 1);
  if (size > cap) {
    throw new Malformed('ERR_DECODE_INFLATE_LIMIT', `declared inflated size ${size} exceeds the cap of ${cap}`, pos + 1, T.COMPRESSED);
  }
  let inflated: Buffer;
  try {
    inflated = inflateSync(buf.subarray(pos + 5), { maxOutputLength: Math.max(1, size) });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Malformed('ERR_DECODE_BAD_COMPRESSED', `zlib data does not inflate to ${size} bytes (${why})`, pos + 5, T.COMPRESSED);
  }
  if (inflated.length !== size) {
    throw new Malformed('ERR_DECODE_BAD_COMPRESSED', `inflated to ${inflated.length} bytes, the header says ${size}`, pos + 5, T.COMPRESSED);
  }
  const zlen = buf.length - pos - 5;
  const fields = [field('UncompressedSize', pos + 1, 4, size), field('ZlibData', pos + 5, zlen, `${zlen} bytes`)];
  const node = makeNode(src, pos, 5, 0, T.COMPRESSED, `compressed term: ${zlen} bytes of zlib data inflate to ${size}`, fields, undefined);
  node.length = buf.length - pos;
  return { node, inflated };
}

/** The value of a decoded leaf in Erlang syntax, long binaries and strings shortened. */
function preview(term: Term): string {
  if (Buffer.isBuffer(term) && term.length > VALUE_PREVIEW_BYTES) {
    return formatTerm(term.subarray(0, VALUE_PREVIEW_BYTES)).replace(/>>$/, '...>>');
  }
  if (term instanceof BitBinary && term.data.length > VALUE_PREVIEW_BYTES) {
    return formatTerm(term.data.subarray(0, VALUE_PREVIEW_BYTES)).replace(/>>$/, '...>>');
  }
  if (Array.isArray(term) && term.length > VALUE_PREVIEW_BYTES) {
    return formatTerm(term.slice(0, VALUE_PREVIEW_BYTES)).replace(/\]$/, ', ...]');
  }
  return formatTerm(term);
}

function sign(s: number): string {
  return s === 0 ? 'positive' : s === 1 ? 'negative' : `sign byte ${s} (must be 0 or 1)`;
}

/** The iterative walk over one encoded term, building the node tree. */
class Walker {
  readonly top: ExplainNode[] = [];
  omittedCount = 0;
  private listedCount = 0;
  private readonly maxNodes: number;
  private readonly open: Frame[] = [];

  constructor(private readonly opts: ExplainOptions) {
    this.maxNodes = opts.maxNodes ?? 10_000;
  }

  /** Walks one term at `pos` and returns its end offset; `parent` (if any) adopts the root node. */
  walk(src: Source, pos: number, depth0: number, parent: ExplainNode | undefined): number {
    const stack = this.open;
    const base = stack.length;
    for (;;) {
      const up = stack.length > base ? stack[stack.length - 1] : undefined;
      const depth = up ? up.node.depth + 1 : depth0;
      const listed = (up ? up.listed : true) && this.listedCount < this.maxNodes;
      const r = this.element(src, pos, depth, up?.role(up.done));
      if (listed) {
        this.listedCount++;
        (up ? up.node.children : parent ? parent.children : this.top).push(r.node);
      } else {
        this.omittedCount++;
        if (up?.listed) up.node.omitted = (up.node.omitted ?? 0) + 1;
      }
      pos = r.end;
      if (r.frame) {
        r.frame.listed = listed;
        if (r.frame.total > 0) {
          stack.push(r.frame);
          continue;
        }
        pos = this.close(src, r.frame, pos);
      } else if (listed) {
        this.value(src, r.node);
      }
      // One element is complete: close every container it completes.
      for (;;) {
        if (stack.length === base) return pos;
        const top = stack[stack.length - 1];
        top.done++;
        if (top.done < top.total) break;
        stack.pop();
        pos = this.close(src, top, pos);
      }
    }
  }

  /** After an error: the containers still open end where the reading stopped. */
  markIncomplete(at: number, src: Source): void {
    for (const f of this.open) {
      f.node.incomplete = true;
      if (f.node.inflated === src.inflated) f.node.length = Math.max(f.node.ownLength, at - f.node.offset);
    }
  }

  private close(src: Source, frame: Frame, pos: number): number {
    const end = frame.finish ? frame.finish(frame, pos) : pos;
    frame.node.length = end - frame.node.offset;
    if (frame.valued && frame.listed) this.value(src, frame.node);
    return end;
  }

  /** Sets `node.value` from the codec's own decoding of the node's bytes. */
  private value(src: Source, node: ExplainNode): void {
    const { term, length } = decodeWithLength(src.buf, {
      ...codecOpts(this.opts),
      offset: node.offset,
      version: false,
      lossless: true,
    });
    if (length !== node.length) {
      throw new Malformed('ERR_DECODE_BAD_TERM', `the codec reads ${length} bytes here, the walk ${node.length}`, node.offset, node.tag);
    }
    node.value = preview(term);
  }

  /** Reads the fixed fields that follow a pid's, port's or reference's node atom. */
  private trailer(b: Uint8Array, spec: readonly (readonly [string, number])[]): (f: Frame, end: number) => number {
    return (f, end) => {
      const size = spec.reduce((s, [, n]) => s + n, 0);
      need(b, end, size, f.node.tag);
      let p = end;
      for (const [name, n] of spec) {
        const v = n === 1 ? b[p] : n === 4 ? u32(b, p) : Buffer.from(b.buffer, b.byteOffset + p, 8).readBigUInt64BE();
        f.node.fields.push(field(name, p, n, v));
        p += n;
      }
      f.node.ownLength += size;
      return p;
    };
  }

  /** Reads one element's tag and fields; a container comes back with a frame for its children. */
  private element(src: Source, pos: number, depth: number, role: string | undefined): Element {
    const b = src.buf;
    need(b, pos, 1, undefined);
    const tag = b[pos];
    const p = pos + 1;
    const leaf = (own: number, meaning: string, fields: ExplainField[] = []): Element => {
      need(b, pos, own, tag);
      return { node: makeNode(src, pos, own, depth, tag, meaning, fields, role), end: pos + own };
    };
    const container = (own: number, meaning: string, fields: ExplainField[], total: number, roleOf: (i: number) => string, extra: Partial<Frame> = {}): Element => {
      const node = makeNode(src, pos, own, depth, tag, meaning, fields, role);
      return { node, end: pos + own, frame: { node, listed: true, total, done: 0, role: roleOf, valued: false, ...extra } };
    };
    const atomLeaf = (w: 1 | 2, meaning: string): Element => {
      need(b, p, w, tag);
      const len = w === 1 ? b[p] : u16(b, p);
      return leaf(1 + w + len, meaning, [field('Len', p, w, len), field('AtomName', p + w, len, plural(len, 'byte'))]);
    };
    // One case per section of erl_ext_dist; the comment gives the layout after the tag.
    switch (tag) {
      case T.SMALL_INTEGER_EXT: // Int:8, unsigned
        need(b, p, 1, tag);
        return leaf(2, 'integer, unsigned 8-bit', [field('Int', p, 1, b[p])]);
      case T.INTEGER_EXT: // Int:32, signed big-endian
        need(b, p, 4, tag);
        return leaf(5, 'integer, signed 32-bit', [field('Int', p, 4, u32(b, p) | 0)]);
      case T.NEW_FLOAT_EXT: // 8 bytes IEEE 754, big-endian
        need(b, p, 8, tag);
        return leaf(9, 'float, IEEE 754 double', [field('IEEE float', p, 8, hexOf(b, p, 8))]);
      case T.FLOAT_EXT: // 31 bytes of "%.20e" text (minor version 0)
        return leaf(32, 'float, old 31-byte text form', [field('Float string', p, 31, '31 bytes')]);
      case T.ATOM_UTF8_EXT: // Len:16, UTF-8
        return atomLeaf(2, 'atom, UTF-8');
      case T.SMALL_ATOM_UTF8_EXT: // Len:8, UTF-8
        return atomLeaf(1, 'small atom, UTF-8');
      case T.ATOM_EXT: // Len:16, Latin-1
        return atomLeaf(2, 'atom, Latin-1, deprecated tag');
      case T.SMALL_ATOM_EXT: // Len:8, Latin-1
        return atomLeaf(1, 'small atom, Latin-1, deprecated tag');
      case T.ATOM_CACHE_REF: // AtomCacheReferenceIndex:8, into the distribution header's refs
        need(b, p, 1, tag);
        return leaf(2, `atom cache reference #${b[p]}`, [field('AtomCacheReferenceIndex', p, 1, b[p])]);
      case T.SMALL_TUPLE_EXT: // Arity:8, Elements
      case T.LARGE_TUPLE_EXT: {
        // Arity:32, Elements
        const w = tag === T.SMALL_TUPLE_EXT ? 1 : 4;
        need(b, p, w, tag);
        const n = w === 1 ? b[p] : u32(b, p);
        return container(1 + w, `tuple of ${plural(n, 'element')}`, [field('Arity', p, w, n)], n, (i) => `element ${i + 1}`);
      }
      case T.MAP_EXT: {
        // Arity:32, then K1, V1, ..., Kn, Vn
        need(b, p, 4, tag);
        const n = u32(b, p);
        return container(5, `map of ${plural(n, 'pair')}`, [field('Arity', p, 4, n)], 2 * n, (i) => (i % 2 === 0 ? `key ${i / 2 + 1}` : `value ${(i + 1) / 2}`));
      }
      case T.NIL_EXT:
        return leaf(1, 'empty list');
      case T.STRING_EXT: {
        // Length:16, Characters (a list of integers 0..255)
        need(b, p, 2, tag);
        const len = u16(b, p);
        return leaf(3 + len, `string: a list of ${plural(len, 'small integer')}`, [field('Length', p, 2, len), field('Characters', p + 2, len, plural(len, 'byte'))]);
      }
      case T.LIST_EXT: {
        // Length:32, Elements, Tail
        need(b, p, 4, tag);
        const n = u32(b, p);
        const finish = (f: Frame, end: number) => {
          const tail = f.node.children[n];
          if (tail) f.node.meaning = `${tail.tag === T.NIL_EXT ? 'proper' : 'improper'} list of ${plural(n, 'element')}`;
          return end;
        };
        return container(5, `list of ${plural(n, 'element')} and a tail`, [field('Length', p, 4, n)], n + 1, (i) => (i < n ? `element ${i + 1}` : 'tail'), { finish });
      }
      case T.BINARY_EXT: {
        // Len:32, Data
        need(b, p, 4, tag);
        const len = u32(b, p);
        return leaf(5 + len, `binary of ${plural(len, 'byte')}`, [field('Len', p, 4, len), field('Data', p + 4, len, plural(len, 'byte'))]);
      }
      case T.BIT_BINARY_EXT: {
        // Len:32, Bits:8, Data
        need(b, p, 5, tag);
        const len = u32(b, p);
        const bits = b[p + 4];
        const fields = [field('Len', p, 4, len), field('Bits', p + 4, 1, bits), field('Data', p + 5, len, plural(len, 'byte'))];
        return leaf(6 + len, `bitstring: ${plural(len, 'byte')}, ${plural(bits, 'bit')} used in the last`, fields);
      }
      case T.SMALL_BIG_EXT: // n:8, Sign:8, digits least significant first
      case T.LARGE_BIG_EXT: {
        // n:32, Sign:8, digits
        const w = tag === T.SMALL_BIG_EXT ? 1 : 4;
        need(b, p, w + 1, tag);
        const n = w === 1 ? b[p] : u32(b, p);
        const fields = [field('n', p, w, n), field('Sign', p + w, 1, b[p + w]), field('Digits', p + w + 1, n, `${plural(n, 'byte')}, least significant first`)];
        return leaf(2 + w + n, `big integer of ${plural(n, 'byte')}, ${sign(b[p + w])}`, fields);
      }
      case T.NEW_PID_EXT: // Node, ID:32, Serial:32, Creation:32
      case T.PID_EXT: // Node, ID:32, Serial:32, Creation:8
        return container(1, tag === T.NEW_PID_EXT ? 'process identifier' : 'process identifier, 8-bit creation', [], 1, () => 'node', {
          valued: true,
          finish: this.trailer(b, [['ID', 4], ['Serial', 4], ['Creation', tag === T.NEW_PID_EXT ? 4 : 1]]),
        });
      case T.NEW_PORT_EXT: // Node, ID:32, Creation:32
      case T.PORT_EXT: // Node, ID:32, Creation:8
      case T.V4_PORT_EXT: // Node, ID:64, Creation:32
        return container(1, tag === T.V4_PORT_EXT ? 'port identifier, 64-bit id' : tag === T.NEW_PORT_EXT ? 'port identifier' : 'port identifier, 8-bit creation', [], 1, () => 'node', {
          valued: true,
          finish: this.trailer(b, [['ID', tag === T.V4_PORT_EXT ? 8 : 4], ['Creation', tag === T.PORT_EXT ? 1 : 4]]),
        });
      case T.REFERENCE_EXT: // Node, ID:32, Creation:8
        return container(1, 'reference of one word, 8-bit creation', [], 1, () => 'node', { valued: true, finish: this.trailer(b, [['ID', 4], ['Creation', 1]]) });
      case T.NEW_REFERENCE_EXT: // Len:16, Node, Creation:8, ID:32 * Len
      case T.NEWER_REFERENCE_EXT: {
        // Len:16, Node, Creation:32, ID:32 * Len
        need(b, p, 2, tag);
        const len = u16(b, p);
        const spec: [string, number][] = [['Creation', tag === T.NEWER_REFERENCE_EXT ? 4 : 1]];
        for (let i = 0; i < len; i++) spec.push([`ID ${i + 1}`, 4]);
        const meaning = `reference of ${plural(len, 'word')}${tag === T.NEW_REFERENCE_EXT ? ', 8-bit creation' : ''}`;
        return container(3, meaning, [field('Len', p, 2, len)], 1, () => 'node', { valued: true, finish: this.trailer(b, spec) });
      }
      case T.EXPORT_EXT: // Module, Function (atoms), Arity (SMALL_INTEGER_EXT)
        return container(1, 'external fun M:F/A', [], 3, (i) => ['module', 'function', 'arity'][i], { valued: true });
      case T.NEW_FUN_EXT: {
        // Size:32, Arity:8, Uniq:16 bytes, Index:32, NumFree:32, then Module,
        // OldIndex, OldUniq, Pid and NumFree free variables.
        need(b, p, 29, tag);
        const size = u32(b, p);
        const numFree = u32(b, p + 25);
        const fields = [
          field('Size', p, 4, size),
          field('Arity', p + 4, 1, b[p + 4]),
          field('Uniq', p + 5, 16, hexOf(b, p + 5, 16)),
          field('Index', p + 21, 4, u32(b, p + 21)),
          field('NumFree', p + 25, 4, numFree),
        ];
        const roles = ['module', 'old index', 'old uniq', 'pid'];
        const finish = (_f: Frame, end: number) => {
          if (end - pos !== size + 1) throw new Malformed('ERR_DECODE_BAD_LENGTH', `Size says ${size} bytes, the fun spans ${end - pos - 1}`, p, tag);
          return end;
        };
        const meaning = `local fun of arity ${b[p + 4]} with ${plural(numFree, 'free variable')}`;
        return container(30, meaning, fields, 4 + numFree, (i) => roles[i] ?? `free var ${i - 3}`, { valued: true, finish });
      }
      case T.LOCAL_EXT: {
        // Opaque from here on: only the codec knows where it ends.
        const { length } = decodeWithLength(b, { ...codecOpts(this.opts), offset: pos, version: false });
        return leaf(length, 'local-only encoding, opaque to other nodes');
      }
      case T.COMPRESSED:
        throw new Malformed('ERR_DECODE_UNKNOWN_TAG', 'COMPRESSED (80) is only valid right after the version byte', pos, tag);
      case T.FUN_EXT:
        throw new Malformed('ERR_DECODE_UNKNOWN_TAG', 'FUN_EXT (117) is not decoded since OTP 23', pos, tag);
      case T.DIST_HEADER:
      case T.DIST_FRAG_HEADER:
        throw new Malformed('ERR_DECODE_UNKNOWN_TAG', `a distribution header (${tag}), not a term`, pos, tag);
      default:
        throw new Malformed('ERR_DECODE_UNKNOWN_TAG', `unknown tag ${tag}`, pos, tag);
    }
  }
}
