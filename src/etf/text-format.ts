/**
 * Writing terms in Erlang syntax: {@link formatTerm} (the reader is
 * {@link parseTerm} in text-parse.ts; text.ts re-exports both).
 *
 * Formatting writes what Erlang's `~w` writes, with `", "` between elements and
 * `" => "` in maps; binaries print as `<<"text">>` when printable (with `/utf8`
 * when not ASCII), map keys in map key order, floats in the shortest form that
 * reads back exactly (`2.5`, `1.0`, `1.0e-10`, `-0.0`, OTP's own rules for
 * choosing fixed or exponent notation). Iterative, so safe for deep terms.
 *
 * Also holds the erl_scan character classes the parser shares.
 */
import { compareCodePoints, compareMapKeys } from './compare.js';
import { EncodeError } from './errors.js';
import { Atom, BitBinary, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, Tuple, setTermPrinter, type Term } from './types.js';

/** Options for {@link formatTerm}. */
export interface FormatOptions {
  /** Write pids, ports and references with their node, always quoted: `<'a@host'.1.2>`. Default: `<0.1.2>`. */
  nodes?: boolean;
  /** Write lists of printable character codes as `"strings"` (like `~p`). Default false (like `~w`). */
  strings?: boolean;
}

// ---------------------------------------------------------------- erl_scan character classes

/** @internal */
export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
/** @internal erl_scan's name characters (Latin-1 letters, digits, `_`, `@`). */
export function isNameChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95 || c === 64 ||
    (c >= 0xc0 && c <= 0xff && c !== 0xd7 && c !== 0xf7)
  );
}
/** @internal erl_scan's characters that start a bare atom. */
export function isLower(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 0xdf && c <= 0xff && c !== 0xf7);
}

/** @internal A string from code points (in slices, to stay under the argument limit). */
export function fromCodePoints(cps: number[]): string {
  let text = '';
  for (let i = 0; i < cps.length; i += 4096) text += String.fromCodePoint(...cps.slice(i, i + 4096));
  return text;
}

// ---------------------------------------------------------------- formatting

const RESERVED = new Set(
  ('after and andalso band begin bnot bor bsl bsr bxor case catch cond div end fun if let not of or orelse ' +
    'receive rem try when xor maybe else').split(' '),
);

/** io_lib's escaping of one character inside quotes `q`. */
function escapeChar(c: number, q: number): string {
  if (c === q || c === 92) return `\\${String.fromCharCode(c)}`;
  if (c >= 32 && c <= 126) return String.fromCharCode(c);
  if (c >= 160) return String.fromCodePoint(c);
  switch (c) {
    case 10: return '\\n';
    case 13: return '\\r';
    case 9: return '\\t';
    case 11: return '\\v';
    case 8: return '\\b';
    case 12: return '\\f';
    case 27: return '\\e';
    case 127: return '\\d';
  }
  return `\\${c.toString(8).padStart(3, '0')}`;
}

function quote(s: string, q: number): string {
  let out = String.fromCharCode(q);
  for (const ch of s) out += escapeChar(ch.codePointAt(0)!, q);
  return out + String.fromCharCode(q);
}

/** An atom as Erlang writes it: bare when it scans back as the same atom, else quoted. */
function formatAtom(name: string): string {
  let bare = name.length > 0 && isLower(name.charCodeAt(0)) && !RESERVED.has(name);
  for (let i = 1; bare && i < name.length; i++) bare = isNameChar(name.charCodeAt(i));
  return bare ? name : quote(name, 39);
}

/** The shortest float text that reads back exactly, in OTP's `float_to_list(F, [short])` layout. */
export function formatFloat(x: number): string {
  if (!Number.isFinite(x)) throw new EncodeError(`${x} is not an Erlang float`);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // JS gives the shortest round-trip digits; re-lay them out as OTP does.
  const s = String(Math.abs(x));
  const e = s.indexOf('e');
  const mant = e < 0 ? s : s.slice(0, e);
  const dot = mant.indexOf('.');
  const frac = dot < 0 ? '' : mant.slice(dot + 1);
  let digits = (dot < 0 ? mant : mant.slice(0, dot)) + frac;
  let exp = (e < 0 ? 0 : Number(s.slice(e + 1))) - frac.length; // value = digits * 10^exp
  digits = digits.replace(/^0+/, '');
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  const n = digits.length;
  const sciExp = exp + n - 1;
  const lower = n === 1 ? -4 : -(n + 2);
  const upper = n === 1 || sciExp >= 10 ? 2 : 1;
  const d = BigInt(digits);
  const fixed =
    exp >= lower &&
    exp <= upper &&
    !((d >= 1n << 53n && exp === 0) || (d > (1n << 52n) / 5n && exp === 1) || (d > (1n << 51n) / 25n && exp === 2));
  let out: string;
  if (!fixed) out = `${digits[0]}.${n > 1 ? digits.slice(1) : '0'}e${sciExp}`;
  else if (exp >= 0) out = `${digits}${'0'.repeat(exp)}.0`;
  else if (n + exp > 0) out = `${digits.slice(0, n + exp)}.${digits.slice(n + exp)}`;
  else out = `0.${'0'.repeat(-(n + exp))}${digits}`;
  return x < 0 ? `-${out}` : out;
}

function printableChar(c: number): boolean {
  return (c >= 32 && c <= 126) || (c >= 8 && c <= 13) || c === 27 || (c >= 160 && c <= 0x10ffff && (c < 0xd800 || c > 0xdfff));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function formatBinary(t: string | Uint8Array): string {
  let text: string | undefined = typeof t === 'string' ? t : undefined;
  if (text === undefined) {
    const b = t as Uint8Array;
    try {
      text = utf8.decode(b);
    } catch {
      text = undefined;
    }
    if (text === undefined || !isPrintable(text)) return `<<${b.join(',')}>>`;
  } else if (!isPrintable(text)) return `<<${Buffer.from(text, 'utf8').join(',')}>>`;
  if (text.length === 0) return '<<>>';
  return `<<${quote(text, 34)}${/^[\x00-\x7f]*$/.test(text) ? '' : '/utf8'}>>`;
}

function isPrintable(s: string): boolean {
  for (const ch of s) if (!printableChar(ch.codePointAt(0)!)) return false;
  return true;
}

function formatBits(b: BitBinary): string {
  if (b.data.length === 0) return '<<>>';
  if (b.bits >= 8) return formatBinary(b.data);
  const n = b.data.length - 1;
  const head = b.data.subarray(0, n).join(',');
  return `<<${head}${n > 0 ? ',' : ''}${b.data[n] >> (8 - b.bits)}:${b.bits}>>`;
}

function nodePrefix(node: Atom, o: FormatOptions): string {
  return o.nodes ? quote(node.name, 39) : '0';
}

/** Literal text on the formatting stack (distinct from a JS string term). */
class Lit {
  constructor(readonly s: string) {}
}
const COMMA = new Lit(', ');
const ARROW = new Lit(' => ');

/**
 * Writes `term` in Erlang syntax (see the module comment). Throws
 * {@link EncodeError} for JS values that are not terms (NaN, functions, ...).
 */
export function formatTerm(term: Term, opts: FormatOptions = {}): string {
  const out: string[] = [];
  const todo: (Term | Lit)[] = [term];
  while (todo.length > 0) {
    const t = todo.pop() as Term | Lit;
    if (t instanceof Lit) {
      out.push(t.s);
      continue;
    }
    switch (typeof t) {
      case 'number':
        out.push(Number.isInteger(t) ? (Number.isSafeInteger(t) ? String(t) : BigInt(t).toString()) : formatFloat(t));
        continue;
      case 'bigint':
        out.push(t.toString());
        continue;
      case 'boolean':
        out.push(String(t));
        continue;
      case 'undefined':
        out.push('undefined');
        continue;
      case 'string':
        out.push(formatBinary(t));
        continue;
      case 'object':
        break;
      default:
        throw new EncodeError(`not an Erlang term: ${typeof t}`);
    }
    if (t === null) out.push('undefined');
    else if (t instanceof Atom) out.push(formatAtom(t.name));
    else if (t instanceof Float) out.push(formatFloat(t.value));
    else if (t instanceof Uint8Array) out.push(formatBinary(t));
    else if (t instanceof BitBinary) out.push(formatBits(t));
    else if (t instanceof Tuple) {
      out.push('{');
      pushSeq(todo, t.elements, new Lit('}'));
    } else if (Array.isArray(t) || t instanceof ImproperList) {
      // Flatten chains of tails into one head sequence.
      let heads: Term[] = [];
      let tail: Term = t;
      while (Array.isArray(tail) || tail instanceof ImproperList) {
        const xs = Array.isArray(tail) ? tail : tail.elements;
        heads = heads.length === 0 ? xs : heads.concat(xs);
        tail = Array.isArray(tail) ? [] : tail.tail;
        if (Array.isArray(tail) && tail.length === 0) break;
      }
      if (heads.length === 0) {
        if (Array.isArray(tail)) out.push('[]');
        else todo.push(tail);
      } else if (opts.strings && Array.isArray(tail) && heads.every((c) => Number.isInteger(c) && printableChar(c as number))) {
        out.push(quote(fromCodePoints(heads as number[]), 34));
      } else {
        out.push('[');
        const end = Array.isArray(tail) ? [new Lit(']')] : [new Lit(']'), tail, new Lit('|')];
        pushSeq(todo, heads, ...end);
      }
    } else if (t instanceof Pid) out.push(`<${nodePrefix(t.node, opts)}.${t.id}.${t.serial}>`);
    else if (t instanceof Port) out.push(`#Port<${nodePrefix(t.node, opts)}.${t.id}>`);
    else if (t instanceof Reference) out.push(`#Ref<${nodePrefix(t.node, opts)}.${[...t.ids].reverse().join('.')}>`);
    else if (t instanceof ExportFun) out.push(`fun ${formatAtom(t.module.name)}:${formatAtom(t.function.name)}/${t.arity}`);
    else if (t instanceof Fun) out.push(`#Fun<${formatAtom(t.module.name)}.${t.oldIndex}.${t.oldUniq}>`);
    else if (t instanceof LocalExt) out.push(`#LocalExt<${t.bytes.toString('hex')}>`);
    else {
      // A Map, or a plain object (a map with binary keys).
      let entries: [Term, Term][];
      if (t instanceof Map) entries = [...t].sort((x, y) => compareMapKeys(x[0], y[0]));
      else {
        const o = t as { [k: string]: Term };
        entries = Object.keys(o)
          .sort(compareCodePoints)
          .map((k) => [k, o[k]]);
      }
      out.push('#{');
      todo.push(new Lit('}'));
      for (let i = entries.length - 1; i >= 0; i--) {
        todo.push(entries[i][1], ARROW, entries[i][0]);
        if (i > 0) todo.push(COMMA);
      }
    }
  }
  return out.join('');
}

setTermPrinter((t) => formatTerm(t, { nodes: true }));

/** Pushes `end` items then `xs` with separators so that they pop in order. */
function pushSeq(todo: (Term | Lit)[], xs: Term[], ...end: (Term | Lit)[]): void {
  for (const e of end) todo.push(e);
  for (let i = xs.length - 1; i >= 0; i--) {
    todo.push(xs[i]);
    if (i > 0) todo.push(COMMA);
  }
}
