/**
 * Reading terms in Erlang syntax: {@link parseTerm} (the writer is
 * `formatTerm` in text-format.ts; text.ts re-exports both).
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
 *
 * The same parser reads the `term` template (values spliced in as
 * {@link Hole}s) and `match` patterns (also {@link Var}s, `P = Q` as
 * {@link Alias}, and `:=` in maps); pattern.ts turns those trees into terms
 * and matchers.
 */
import { parseBinary } from './text-binary.js';
import { keySignature } from './mapkeys.js';
import { codePoints, floatTerm, Lexer, negate, type Tok } from './text-lex.js';
import { Atom, atom, ExportFun, ImproperList, Tuple, type Term } from './types.js';

export { ParseError } from './text-lex.js';

/** Options for {@link parseTerm}. */
export interface ParseOptions {
  /** Node given to pids, ports and references written with a node number (`<0.1.2>`). Default `nonode@nohost`. */
  node?: Atom | string;
  /** Creation given to every parsed pid, port and reference. Default 0. */
  creation?: number;
}

/** @internal A spliced value's place in a template or pattern tree. */
export class Hole {
  constructor(readonly index: number) {}
}
/** @internal A pattern variable; `_` matches anything and binds nothing. */
export class Var {
  constructor(readonly name: string) {}
}
/** @internal `Left = Right` in a pattern: the value matches both. */
export class Alias {
  constructor(
    readonly left: Term,
    readonly right: Term,
  ) {}
}

/** @internal What {@link parseTree} reads: plain terms, templates (holes) or patterns (holes and variables). */
export type ParseMode = 'term' | 'template' | 'pattern';

/** True when a tree holds a hole or variable anywhere (map keys with one are not de-duplicated at parse time). */
function hasMarker(k: Term): boolean {
  if (k instanceof Hole || k instanceof Var || k instanceof Alias) return true;
  if (k instanceof Tuple) return k.elements.some(hasMarker);
  if (Array.isArray(k)) return k.some(hasMarker);
  if (k instanceof ImproperList) return k.elements.some(hasMarker) || hasMarker(k.tail);
  if (k instanceof Map) for (const [a, b] of k) if (hasMarker(a) || hasMarker(b)) return true;
  return false;
}
let markerKeys = 0;
type Frame =
  | { k: 'alias'; left: Term }
  | { k: 'tuple'; items: Term[] }
  | { k: 'list'; items: Term[]; tail: boolean; depth: number }
  | { k: 'map'; m: Map<Term, Term>; key: Term; isValue: boolean; index: Map<string, Term> };

/**
 * A name for a parsed map key, to find duplicates: the decoder's
 * {@link keySignature} (`=:=` keys share it, distinct keys never do). A key
 * holding a hole or variable gets a name of its own.
 */
function keyName(k: Term): string {
  return hasMarker(k) ? `m${markerKeys++}` : keySignature(k);
}

/**
 * Parses one term in Erlang syntax. Throws {@link ParseError} (code
 * `ERR_PARSE`, with offset, line and column) on malformed input.
 */
export function parseTerm(text: string, opts: ParseOptions = {}): Term {
  return parseTree(text, opts, 'term');
}

/**
 * @internal {@link parseTerm} for templates and patterns too: `holes` maps
 * offsets of `text` to spliced values' indexes; in `'pattern'` mode variables,
 * `=` and `:=` are read as well.
 */
export function parseTree(text: string, opts: ParseOptions, mode: ParseMode, holes?: ReadonlyMap<number, number>): Term {
  const node = typeof opts.node === 'string' ? atom(opts.node) : (opts.node ?? atom('nonode@nohost'));
  const pattern = mode === 'pattern';
  const lx = new Lexer(text, node, opts.creation ?? 0, holes, pattern);
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
      case 'hole':
        value = new Hole(tok.v) as unknown as Term;
        break;
      case 'var':
        value = new Var(tok.v) as unknown as Term;
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
      if (pattern && lx.isP('=')) {
        lx.next();
        stack.push({ k: 'alias', left: value });
        break;
      }
      const f = stack[stack.length - 1];
      if (f === undefined) {
        if (lx.isP('.')) lx.next();
        const end = lx.next();
        if (end.t !== 'eof') lx.fail('unexpected text after the term', end.at);
        return value;
      }
      if (f.k === 'alias') {
        stack.pop();
        value = new Alias(f.left, value) as unknown as Term;
        continue;
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
          mapArrow(lx, pattern, value);
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

/** @internal A list from heads and a tail, flattened when the tail is a list. */
export function improper(items: Term[], tail: Term): Term {
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


/** `=>` after a map key, or `:=` in a pattern (whose keys must be known values, as in Erlang). */
function mapArrow(lx: Lexer, pattern: boolean, key: Term): void {
  const t: Tok = lx.next();
  const arrow = t.t === 'p' ? t.v : '';
  if (!pattern) {
    if (arrow !== '=>') lx.fail("expected '=>'", t.at);
    return;
  }
  if (arrow === '=>') lx.fail("a map pattern uses ':=', as in Erlang", t.at);
  if (arrow !== ':=') lx.fail("expected ':='", t.at);
  if (hasVar(key)) lx.fail('a map key in a pattern must be a literal or a spliced value, not a variable', t.at);
}

function hasVar(k: Term): boolean {
  if (k instanceof Var || k instanceof Alias) return true;
  if (k instanceof Tuple) return k.elements.some(hasVar);
  if (Array.isArray(k)) return k.some(hasVar);
  if (k instanceof ImproperList) return k.elements.some(hasVar) || hasVar(k.tail);
  if (k instanceof Map) for (const [a, b] of k) if (hasVar(a) || hasVar(b)) return true;
  return false;
}
