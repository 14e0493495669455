/**
 * Reading terms in Erlang syntax: {@link parseTerm} (the writer is
 * {@link formatTerm} in text-format.ts; text.ts re-exports both).
 *
 *     {ok, [1, 2.5, <<"hi">>], #{a => 'B c'}}
 *
 * Parsing follows erl_scan / erl_parse for terms: integers (`1_000`, `16#FF`,
 * `$a`, big ones become bigints), floats (integral values such as `1.0` become
 * {@link Float}, others plain numbers), atoms (bare or quoted with escapes;
 * `true`/`false` become booleans), `"strings"` (lists of code points, as in
 * Erlang), tuples, lists (improper too), maps, binaries and bitstrings (integer,
 * float, string and utf8/16/32 segments with sizes and type specifiers), export
 * funs `fun m:f/1`, and the printed forms of pids `<0.1.2>`, references
 * `#Ref<0.1.2.3>` and ports `#Port<0.7>` (with a number or a quoted node name in
 * the first position). `%` comments, whitespace and a final `.` are allowed.
 * `#Fun<...>` is rejected: a local fun cannot be rebuilt from its printed form.
 * Deviation from Erlang: a character above 255 in a binary string without
 * `/utf8` (or utf16/utf32) is an error rather than silently truncated.
 * Iterative, so safe for deep input.
 */
import { BeamBridgeError } from '../errors.js';
import { formatTerm, fromCodePoints, isDigit, isLower, isNameChar } from './text-format.js';
import { Atom, atom, BitBinary, ExportFun, Float, ImproperList, LocalExt, Pid, Port, Reference, Tuple, type Term } from './types.js';

/** Malformed term text. `offset` is a UTF-16 index into the input; line and column are 1-based. */
export class ParseError extends BeamBridgeError {
  declare readonly code: 'ERR_PARSE';
  readonly offset: number;
  readonly line: number;
  readonly column: number;

  constructor(message: string, offset: number, line: number, column: number) {
    super('ERR_PARSE', `${message} at line ${line}, column ${column} (offset ${offset})`);
    this.offset = offset;
    this.line = line;
    this.column = column;
  }
}

/** Options for {@link parseTerm}. */
export interface ParseOptions {
  /** Node given to pids, ports and references written with a node number (`<0.1.2>`). Default `nonode@nohost`. */
  node?: Atom | string;
  /** Creation given to every parsed pid, port and reference. Default 0. */
  creation?: number;
}

// ---------------------------------------------------------------- scanning

type Tok =
  | { t: 'p'; v: string; at: number } // punctuation
  | { t: 'int'; v: number | bigint; at: number }
  | { t: 'float'; v: number; at: number }
  | { t: 'char'; v: number; at: number }
  | { t: 'atom'; v: string; q: boolean; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'val'; v: Term; at: number } // pid, port, reference, LocalExt
  | { t: 'eof'; at: number };

const PUNCT = ['#{', '=>', '<<', '>>', '{', '}', '[', ']', '|', ',', ':', '/', '-', '+', '.'];
const ESCAPES: Record<string, number> = { b: 8, d: 127, e: 27, f: 12, n: 10, r: 13, s: 32, t: 9, v: 11 };

function digitValue(c: number): number {
  if (isDigit(c)) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return 99;
}

class Lexer {
  pos = 0;
  private peeked: Tok | null = null;

  constructor(
    readonly src: string,
    private readonly node: Atom,
    private readonly creation: number,
  ) {}

  fail(msg: string, at: number = this.pos): never {
    let line = 1;
    let col = 1;
    for (let i = 0; i < at && i < this.src.length; i++) {
      if (this.src.charCodeAt(i) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    throw new ParseError(msg, at, line, col);
  }

  peek(): Tok {
    return (this.peeked ??= this.scan());
  }

  next(): Tok {
    const t = this.peek();
    this.peeked = null;
    return t;
  }

  isP(v: string): boolean {
    const t = this.peek();
    return t.t === 'p' && t.v === v;
  }

  expect(v: string): void {
    const t = this.next();
    if (t.t !== 'p' || t.v !== v) this.fail(`expected '${v}'`, t.at);
  }

  private skipSpace(): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c <= 32 || (c >= 128 && c <= 160)) this.pos++;
      else if (c === 37) while (this.pos < s.length && s.charCodeAt(this.pos) !== 10) this.pos++;
      else break;
    }
  }

  private scan(): Tok {
    this.skipSpace();
    const s = this.src;
    const at = this.pos;
    if (at >= s.length) return { t: 'eof', at };
    const c = s.charCodeAt(at);
    if (isDigit(c)) return this.number(at);
    if (c === 36) {
      // $c
      this.pos++;
      if (this.pos >= s.length) this.fail('character literal at end of input');
      return { t: 'char', v: this.char(), at };
    }
    if (c === 39) return { t: 'atom', v: this.quoted(39, 'atom'), q: true, at };
    if (c === 34) return { t: 'str', v: this.quoted(34, 'string'), at };
    if (isLower(c)) {
      while (this.pos < s.length && isNameChar(s.charCodeAt(this.pos))) this.pos++;
      return { t: 'atom', v: s.slice(at, this.pos), q: false, at };
    }
    if ((c >= 65 && c <= 90) || c === 95) this.fail('variables are not terms');
    if (c === 60 && s.charCodeAt(at + 1) !== 60) return { t: 'val', v: this.ident(at, 'pid'), at };
    if (c === 35) {
      for (const kind of ['Ref', 'Port', 'Fun', 'LocalExt']) {
        if (s.startsWith(`#${kind}<`, at)) return { t: 'val', v: this.ident(at + kind.length + 1, kind), at };
      }
    }
    for (const p of PUNCT) {
      if (s.startsWith(p, at)) {
        this.pos += p.length;
        return { t: 'p', v: p, at };
      }
    }
    return this.fail(`unexpected character '${String.fromCodePoint(s.codePointAt(at)!)}'`);
  }

  /** Digits in `base` with single `_` between digits; returns the text without `_`. */
  private digits(base: number): string {
    const s = this.src;
    const start = this.pos;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (digitValue(c) < base) this.pos++;
      else if (c === 95 && this.pos > start && digitValue(s.charCodeAt(this.pos + 1)) < base) this.pos++;
      else break;
    }
    if (this.pos === start) this.fail(`expected base ${base} digits`);
    return s.slice(start, this.pos).replace(/_/g, '');
  }

  private number(at: number): Tok {
    const s = this.src;
    const int = this.digits(10);
    if (s.charCodeAt(this.pos) === 35) {
      // Base#Digits
      const base = Number(int);
      if (base < 2 || base > 36) this.fail('base must be 2..36', at);
      this.pos++;
      const text = this.digits(base).toLowerCase();
      let v = 0n;
      for (let i = 0; i < text.length; i++) v = v * BigInt(base) + BigInt(digitValue(text.charCodeAt(i)));
      return { t: 'int', v: toInt(v), at };
    }
    if (s.charCodeAt(this.pos) === 46 && isDigit(s.charCodeAt(this.pos + 1))) {
      this.pos++;
      let text = `${int}.${this.digits(10)}`;
      const e = s.charCodeAt(this.pos);
      if (e === 101 || e === 69) {
        const save = this.pos;
        this.pos++;
        const sign = s[this.pos] === '-' || s[this.pos] === '+' ? s[this.pos++] : '';
        if (isDigit(s.charCodeAt(this.pos))) text += `e${sign}${this.digits(10)}`;
        else this.pos = save;
      }
      const v = Number(text);
      if (!Number.isFinite(v)) this.fail('float out of range', at);
      return { t: 'float', v, at };
    }
    return { t: 'int', v: toInt(BigInt(int)), at };
  }

  /** One character (after `$`, or inside quotes) with erl_scan's escapes; returns its code point. */
  private char(): number {
    const s = this.src;
    const c = s.codePointAt(this.pos)!;
    this.pos += c > 0xffff ? 2 : 1;
    if (c !== 92) return c;
    const at = this.pos - 1;
    if (this.pos >= s.length) this.fail('escape at end of input', at);
    const e = s[this.pos];
    if (e >= '0' && e <= '7') {
      const m = /^[0-7]{1,3}/.exec(s.slice(this.pos, this.pos + 3))![0];
      this.pos += m.length;
      return parseInt(m, 8);
    }
    if (e === 'x') {
      const m = /^x(?:\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2}))/.exec(s.slice(this.pos, this.pos + 12));
      if (m === null) this.fail('bad \\x escape', at);
      this.pos += m[0].length;
      const v = parseInt(m[1] ?? m[2], 16);
      if (v > 0x10ffff) this.fail('character out of range', at);
      return v;
    }
    if (e === '^') {
      const ctl = s.charCodeAt(this.pos + 1);
      if (Number.isNaN(ctl)) this.fail('escape at end of input', at);
      this.pos += 2;
      return ctl & 31;
    }
    const cp = s.codePointAt(this.pos)!;
    this.pos += cp > 0xffff ? 2 : 1;
    return ESCAPES[e] ?? cp;
  }

  private quoted(q: number, what: string): string {
    const s = this.src;
    const at = this.pos++;
    const out: number[] = [];
    for (;;) {
      if (this.pos >= s.length) this.fail(`unterminated ${what}`, at);
      if (s.charCodeAt(this.pos) === q) break;
      out.push(this.char());
    }
    this.pos++;
    const text = fromCodePoints(out);
    if (q === 39 && out.length > 255) this.fail('atom longer than 255 characters', at);
    return text;
  }

  /** `<Node.A.B>` bodies of pids, `#Ref<...>`, `#Port<...>`, `#Fun<...>`, `#LocalExt<hex>`. */
  private ident(lt: number, kind: string): Term {
    const s = this.src;
    const at = this.pos;
    this.pos = lt + 1;
    if (kind === 'Fun') this.fail('a local fun cannot be rebuilt from #Fun<...>', at);
    if (kind === 'LocalExt') {
      const m = /^([0-9a-fA-F]{2})*>/.exec(s.slice(this.pos, s.indexOf('>', this.pos) + 1));
      if (m === null) this.fail('expected hex digits in #LocalExt<...>', at);
      this.pos += m[0].length;
      return new LocalExt(Buffer.from(m[0].slice(0, -1), 'hex'));
    }
    let node = this.node;
    if (s.charCodeAt(this.pos) === 39) node = atom(this.quoted(39, 'atom'));
    else if (isDigit(s.charCodeAt(this.pos))) this.digits(10);
    else if (isLower(s.charCodeAt(this.pos))) {
      const start = this.pos;
      while (isNameChar(s.charCodeAt(this.pos))) this.pos++;
      node = atom(s.slice(start, this.pos));
    } else this.fail(`bad ${kind} literal`, at);
    const nums: bigint[] = [];
    while (s.charCodeAt(this.pos) === 46) {
      this.pos++;
      nums.push(BigInt(this.digits(10)));
    }
    if (s.charCodeAt(this.pos) !== 62) this.fail(`bad ${kind} literal`, at);
    this.pos++;
    const u32 = (v: bigint): number => {
      if (v > 0xffffffffn) this.fail(`${kind} number out of range`, at);
      return Number(v);
    };
    if (kind === 'pid' && nums.length === 2) return new Pid(node, u32(nums[0]), u32(nums[1]), this.creation);
    if (kind === 'Port' && nums.length === 1) {
      if (nums[0] >= 1n << 64n) this.fail('port number out of range', at);
      return new Port(node, toInt(nums[0]), this.creation);
    }
    if (kind === 'Ref' && nums.length >= 1 && nums.length <= 5) {
      return new Reference(node, this.creation, nums.map(u32).reverse());
    }
    return this.fail(`bad ${kind} literal`, at);
  }
}

function toInt(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

function negate(v: Term): Term {
  if (typeof v === 'number') return v === 0 ? 0 : -v;
  if (typeof v === 'bigint') return toInt(-v);
  return new Float(-(v as Float).value);
}

function floatTerm(v: number): Term {
  return Number.isInteger(v) ? new Float(v) : v;
}

function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}

// ---------------------------------------------------------------- binaries

/** Accumulates bits most significant first. */
class BitWriter {
  bytes: number[] = [];
  bits = 0;

  write(v: bigint, n: number): void {
    for (let i = n - 1; i >= 0; i--) {
      const bit = Number((v >> BigInt(i)) & 1n);
      if ((this.bits & 7) === 0) this.bytes.push(0);
      if (bit) this.bytes[this.bytes.length - 1] |= 0x80 >> (this.bits & 7);
      this.bits++;
    }
  }

  writeBytes(b: Uint8Array): void {
    for (const x of b) this.write(BigInt(x), 8);
  }

  result(): Buffer | BitBinary {
    const data = Buffer.from(this.bytes);
    const rest = this.bits & 7;
    return rest === 0 ? data : new BitBinary(data, rest);
  }
}

function utfBytes(cp: number, type: string, little: boolean): Uint8Array {
  const s = String.fromCodePoint(cp);
  if (type === 'utf8') return Buffer.from(s, 'utf8');
  if (type === 'utf32') {
    const b = Buffer.alloc(4);
    if (little) b.writeUInt32LE(cp);
    else b.writeUInt32BE(cp);
    return b;
  }
  const b = Buffer.from(s, 'utf16le');
  if (!little) b.swap16();
  return b;
}

/** `<<Seg, ...>>` after the `<<`; segments hold only literals, so no nesting. */
function parseBinary(lx: Lexer): Term {
  const w = new BitWriter();
  if (lx.isP('>>')) {
    lx.next();
    return w.result();
  }
  for (;;) {
    let tok = lx.next();
    const at = tok.at;
    let neg = false;
    if (tok.t === 'p' && (tok.v === '-' || tok.v === '+')) {
      neg = tok.v === '-';
      tok = lx.next();
    }
    let value: number | bigint | string;
    if (tok.t === 'int' || tok.t === 'char') value = BigInt(tok.v);
    else if (tok.t === 'float') value = tok.v;
    else if (tok.t === 'str' && !neg) {
      value = tok.v;
      while (lx.peek().t === 'str') value += (lx.next() as { v: string }).v;
    } else return lx.fail('expected a binary segment value', tok.at);
    if (neg) value = typeof value === 'number' ? -value : -(value as bigint);
    let size: number | undefined;
    if (lx.isP(':')) {
      lx.next();
      const st = lx.next();
      if (st.t !== 'int' || typeof st.v !== 'number') return lx.fail('expected a segment size', st.at);
      size = st.v;
    }
    let type = 'integer';
    let little = false;
    let unit: number | undefined;
    if (lx.isP('/')) {
      lx.next();
      for (;;) {
        const ts = lx.next();
        if (ts.t !== 'atom') return lx.fail('expected a type specifier', ts.at);
        if (['integer', 'float', 'binary', 'bytes', 'bitstring', 'bits', 'utf8', 'utf16', 'utf32'].includes(ts.v)) type = ts.v;
        else if (ts.v === 'little' || ts.v === 'native') little = true;
        else if (ts.v === 'big') little = false;
        else if (ts.v === 'unit') {
          lx.expect(':');
          const u = lx.next();
          if (u.t !== 'int' || typeof u.v !== 'number' || u.v < 1 || u.v > 256) return lx.fail('bad unit', u.at);
          unit = u.v;
        } else if (ts.v !== 'signed' && ts.v !== 'unsigned') return lx.fail(`unknown type specifier '${ts.v}'`, ts.at);
        if (!lx.isP('-')) break;
        lx.next();
      }
    }
    const utf = type.startsWith('utf');
    if (utf && (size !== undefined || unit !== undefined)) lx.fail('utf segments take no size', at);
    const chars = typeof value === 'string' ? codePoints(value).map(BigInt) : [value];
    for (const v of chars) {
      if (utf) {
        if (typeof v !== 'bigint' && typeof v !== 'number') lx.fail('bad utf segment', at);
        const cp = Number(v);
        if (!Number.isInteger(cp) || cp < 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) lx.fail('not a Unicode code point', at);
        w.writeBytes(utfBytes(cp, type, little));
      } else if (type === 'float') {
        const bits = (size ?? 64) * (unit ?? 1);
        if (bits !== 64 && bits !== 32) lx.fail('float segments are 32 or 64 bits', at);
        const b = Buffer.alloc(bits / 8);
        const f = Number(v);
        if (bits === 64) {
          if (little) b.writeDoubleLE(f);
          else b.writeDoubleBE(f);
        } else if (little) b.writeFloatLE(f);
        else b.writeFloatBE(f);
        w.writeBytes(b);
      } else if (type === 'integer' || typeof value === 'string') {
        if (typeof v !== 'bigint') return lx.fail('expected an integer', at);
        if (typeof value === 'string' && size === undefined && v > 255n) {
          lx.fail('character above 255 in a binary string: add /utf8', at);
        }
        const bits = (size ?? 8) * (unit ?? 1);
        if (little) {
          if (bits % 8 !== 0) lx.fail('little-endian segments must be whole bytes', at);
          for (let i = 0; i < bits; i += 8) w.write(v >> BigInt(i), 8);
        } else w.write(v, bits);
      } else return lx.fail('binary segments need a binary value', at);
    }
    const sep = lx.next();
    if (sep.t === 'p' && sep.v === '>>') return w.result();
    if (sep.t !== 'p' || sep.v !== ',') lx.fail("expected ',' or '>>'", sep.at);
  }
}

// ---------------------------------------------------------------- parsing

type Frame =
  | { k: 'tuple'; items: Term[] }
  | { k: 'list'; items: Term[]; tail: boolean; depth: number }
  | { k: 'map'; m: Map<Term, Term>; key: Term; isValue: boolean; index: Map<string, Term> };

/**
 * A canonical name for a parsed map key, to find duplicates. Parsed terms give
 * every pid, port and reference the same creation, so the text with node names
 * identifies a compound key.
 */
function keyName(k: Term): string {
  if (k instanceof Atom) return `a${k.name}`;
  if (typeof k === 'boolean') return `a${k}`;
  if (typeof k === 'number' || typeof k === 'bigint') return `n${formatTerm(k)}`;
  if (k instanceof Buffer) return `b${k.toString('latin1')}`;
  return `t${formatTerm(k, { nodes: true })}`;
}

/**
 * Parses one term in Erlang syntax. Throws {@link ParseError} (code
 * `ERR_PARSE`, with offset, line and column) on malformed input.
 */
export function parseTerm(text: string, opts: ParseOptions = {}): Term {
  const node = typeof opts.node === 'string' ? atom(opts.node) : (opts.node ?? atom('nonode@nohost'));
  const lx = new Lexer(text, node, opts.creation ?? 0);
  const stack: Frame[] = [];
  for (;;) {
    // Read one value, or open a container and go round again.
    const tok = lx.next();
    let value: Term;
    switch (tok.t) {
      case 'int':
      case 'char':
        value = tok.v;
        break;
      case 'float':
        value = floatTerm(tok.v);
        break;
      case 'str': {
        let s = tok.v;
        while (lx.peek().t === 'str') s += (lx.next() as { v: string }).v;
        value = codePoints(s);
        break;
      }
      case 'val':
        value = tok.v;
        break;
      case 'atom':
        if (!tok.q && tok.v === 'fun') value = parseExportFun(lx);
        else if (!tok.q && (tok.v === 'true' || tok.v === 'false')) value = tok.v === 'true';
        else value = atom(tok.v);
        break;
      case 'p': {
        if (tok.v === '-' || tok.v === '+') {
          const n = lx.next();
          if (n.t !== 'int' && n.t !== 'float' && n.t !== 'char') return lx.fail(`expected a number after '${tok.v}'`, n.at);
          const v = n.t === 'float' ? floatTerm(n.v) : n.v;
          value = tok.v === '-' ? negate(v) : v;
          break;
        }
        if (tok.v === '<<') {
          value = parseBinary(lx);
          break;
        }
        const close = tok.v === '{' ? '}' : tok.v === '[' ? ']' : tok.v === '#{' ? '}' : '';
        if (close === '') return lx.fail(`unexpected '${tok.v}'`, tok.at);
        if (lx.isP(close)) {
          lx.next();
          value = tok.v === '{' ? new Tuple([]) : tok.v === '[' ? [] : new Map();
          break;
        }
        if (tok.v === '{') stack.push({ k: 'tuple', items: [] });
        else if (tok.v === '[') stack.push({ k: 'list', items: [], tail: false, depth: 0 });
        else stack.push({ k: 'map', m: new Map(), key: undefined, isValue: false, index: new Map() });
        continue;
      }
      default:
        return lx.fail('unexpected end of input', tok.at);
    }

    // Hand the value to the enclosing containers, closing those that end here.
    for (;;) {
      const f = stack[stack.length - 1];
      if (f === undefined) {
        if (lx.isP('.')) lx.next();
        const end = lx.next();
        if (end.t !== 'eof') lx.fail('unexpected text after the term', end.at);
        return value;
      }
      if (f.k === 'tuple') {
        f.items.push(value);
        const sep = lx.next();
        if (sep.t === 'p' && sep.v === ',') break;
        if (sep.t !== 'p' || sep.v !== '}') lx.fail("expected ',' or '}'", sep.at);
        stack.pop();
        value = new Tuple(f.items);
        continue;
      }
      if (f.k === 'map') {
        if (!f.isValue) {
          f.key = value;
          f.isValue = true;
          lx.expect('=>');
          break;
        }
        // Erlang: a later duplicate key wins. Keys are named only once a
        // second one arrives, so maps nested in single keys stay linear.
        if (f.m.size === 1 && f.index.size === 0) for (const k of f.m.keys()) f.index.set(keyName(k), k);
        if (f.m.size > 0) {
          const name = keyName(f.key);
          const old = f.index.get(name);
          if (old !== undefined) f.m.delete(old);
          f.index.set(name, f.key);
        }
        f.m.set(f.key, value);
        f.isValue = false;
        const sep = lx.next();
        if (sep.t === 'p' && sep.v === ',') break;
        if (sep.t !== 'p' || sep.v !== '}') lx.fail("expected ',' or '}'", sep.at);
        stack.pop();
        value = f.m;
        continue;
      }
      // A list. `[a|[b|[c]]]` is collected into one array (depth counts the open brackets).
      let tail: Term = [];
      if (f.tail) tail = value;
      else {
        f.items.push(value);
        const sep = lx.next();
        if (sep.t === 'p' && sep.v === ',') break;
        if (sep.t === 'p' && sep.v === '|') {
          if (lx.isP('[')) {
            lx.next();
            if (!lx.isP(']')) {
              f.depth++;
              break;
            }
            lx.next();
          } else {
            f.tail = true;
            break;
          }
        } else if (sep.t !== 'p' || sep.v !== ']') lx.fail("expected ',', '|' or ']'", sep.at);
        else f.depth--;
      }
      for (let i = 0; i <= f.depth; i++) lx.expect(']');
      stack.pop();
      value = improper(f.items, tail);
    }
  }
}

function improper(items: Term[], tail: Term): Term {
  if (Array.isArray(tail)) return tail.length === 0 ? items : items.concat(tail);
  if (tail instanceof ImproperList) return new ImproperList(items.concat(tail.elements), tail.tail);
  return new ImproperList(items, tail);
}

function parseExportFun(lx: Lexer): Term {
  const m = lx.next();
  if (m.t !== 'atom') return lx.fail('expected a module name after fun', m.at);
  lx.expect(':');
  const f = lx.next();
  if (f.t !== 'atom') return lx.fail('expected a function name', f.at);
  lx.expect('/');
  const a = lx.next();
  if (a.t !== 'int' || typeof a.v !== 'number' || a.v > 255) return lx.fail('expected an arity 0..255', a.at);
  return new ExportFun(atom(m.v), atom(f.v), a.v);
}
