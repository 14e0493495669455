/**
 * The scanner of Erlang term syntax (erl_scan's rules for the tokens a term
 * can hold), shared by {@link parseTerm} and by the `term` and `match`
 * templates (pattern.ts), which add spliced values ("holes") and variables.
 */
import { BeamBridgeError } from '../errors.js';
import { fromCodePoints, isDigit, isLower, isNameChar } from './text-format.js';
import { Atom, atom, Float, LocalExt, Pid, Port, Reference, type Term } from './types.js';

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

/** @internal A token. */
export type Tok =
  | { t: 'p'; v: string; at: number } // punctuation
  | { t: 'int'; v: number | bigint; at: number }
  | { t: 'float'; v: number; at: number }
  | { t: 'char'; v: number; at: number }
  | { t: 'atom'; v: string; q: boolean; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'val'; v: Term; at: number } // pid, port, reference, LocalExt
  | { t: 'hole'; v: number; at: number } // a value spliced into a template, by index
  | { t: 'var'; v: string; at: number } // a pattern variable (or `_`)
  | { t: 'eof'; at: number };

const PUNCT = ['#{', '=>', ':=', '<<', '>>', '{', '}', '[', ']', '|', ',', ':', '/', '-', '+', '.', '='];
const ESCAPES: Record<string, number> = { b: 8, d: 127, e: 27, f: 12, n: 10, r: 13, s: 32, t: 9, v: 11 };

function digitValue(c: number): number {
  if (isDigit(c)) return c - 48;
  if (c >= 97 && c <= 122) return c - 87;
  if (c >= 65 && c <= 90) return c - 55;
  return 99;
}

/**
 * @internal The scanner. `holes` maps offsets of `src` to the index of the
 * value spliced there (templates join their literal parts with one
 * placeholder character per value); `vars` lets it read pattern variables.
 */
export class Lexer {
  pos = 0;
  private peeked: Tok | null = null;

  constructor(
    readonly src: string,
    private readonly node: Atom,
    private readonly creation: number,
    private readonly holes?: ReadonlyMap<number, number>,
    private readonly vars = false,
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
      if (this.holes?.has(this.pos)) break;
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
    const hole = this.holes?.get(at);
    if (hole !== undefined) {
      this.pos++;
      return { t: 'hole', v: hole, at };
    }
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
    if ((c >= 65 && c <= 90) || c === 95) {
      if (!this.vars) {
        this.fail(this.holes ? "a variable in a term template: splice a value with ${...}, or quote the atom ('X')" : 'variables are not terms');
      }
      while (this.pos < s.length && isNameChar(s.charCodeAt(this.pos))) this.pos++;
      return { t: 'var', v: s.slice(at, this.pos), at };
    }
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
    if (this.holes) for (const h of this.holes.keys()) if (h > at && h < this.pos) this.fail(`a value cannot be spliced inside a quoted ${what}`, h);
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

/** @internal */
export function toInt(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** @internal */
export function negate(v: Term): Term {
  if (typeof v === 'number') return v === 0 ? 0 : -v;
  if (typeof v === 'bigint') return toInt(-v);
  return new Float(-(v as Float).value);
}

/** @internal */
export function floatTerm(v: number): Term {
  return Number.isInteger(v) ? new Float(v) : v;
}

/** @internal */
export function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}
