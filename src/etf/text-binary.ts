/**
 * Binaries and bitstrings in Erlang term syntax: `<<"text">>`, `<<1, 2:4>>`,
 * `<<"é"/utf8>>`, `<<1.5/float>>` (for {@link parseTerm}).
 */
import { codePoints, type Lexer } from './text-lex.js';
import { BitBinary, type Term } from './types.js';

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

/** @internal `<<Seg, ...>>` after the `<<`; segments hold only literals, so no nesting. */
export function parseBinary(lx: Lexer): Term {
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
    } else if (tok.t === 'hole') return lx.fail('a value cannot be spliced inside <<...>>: splice the whole binary', tok.at);
    else if (tok.t === 'var') return lx.fail('binary patterns with variables are not supported: match the whole binary', tok.at);
    else return lx.fail('expected a binary segment value', tok.at);
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
