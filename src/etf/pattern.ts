/**
 * Erlang terms written the Erlang way, from JavaScript:
 *
 * - {@link term}, a tagged template: `` term`{send, ${from}, ${to}, ${text}, undefined}` ``
 *   builds the tuple from Erlang syntax with JS values spliced in. Spliced
 *   values keep their JS mapping (a JS string is still a binary, a number an
 *   integer or float); the literal parts are parsed once per call site (the
 *   template strings array is the cache key).
 * - {@link match}: `match('{chat_event, User, #{seq := Seq}}', msg)` gives
 *   `{ User, Seq }`, or `null` when `msg` does not match. Patterns follow
 *   Erlang: variables start with an upper-case letter or `_`; `_` matches
 *   anything; a variable used twice must match equal terms both times
 *   (`{X, X}`); `P = Q` matches both (bind the whole: `M = {ok, _}`); map
 *   patterns use `:=` and match maps that have at least those keys; `[H | T]`
 *   splits a list. Comparison is Erlang's exact `=:=` ({@link termEquals}), so
 *   `1` matches `1` and `1n` but not the float `1.0`.
 * - {@link pattern}: a compiled pattern, from a string or as a template tag
 *   whose spliced values must be matched exactly:
 *   `` pattern`{reply, ${ref}, Value}` ``. Both kinds (and plain strings) go in
 *   `process.receive({ match })`.
 *
 * With a string literal, TypeScript knows the variables:
 * `match('{ok, User, _}', m)` is typed `{ User: Term } | null`.
 */
import { termEquals } from './compare.js';
import { Alias, Hole, improper, parseTree, Var, type ParseMode } from './text-parse.js';
import { BitBinary, ImproperList, Tuple, type Term } from './types.js';

// ---------------------------------------------------------------- types

type Upper = 'A' | 'B' | 'C' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'N' | 'O' | 'P' | 'Q' | 'R' | 'S' | 'T' | 'U' | 'V' | 'W' | 'X' | 'Y' | 'Z';
type Lower = Lowercase<Upper>;
type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9';
type NameChar = Upper | Lower | Digit | '_' | '@';
type SkipName<S extends string> = S extends `${infer C}${infer R}` ? (C extends NameChar ? SkipName<R> : S) : S;
type TakeName<S extends string, N extends string> = S extends `${infer C}${infer R}`
  ? C extends NameChar
    ? TakeName<R, `${N}${C}`>
    : [N, S]
  : [N, S];
type SkipQuoted<S extends string, Q extends string> = S extends `\\${string}`
  ? S extends `\\${infer _E}${infer R}`
    ? SkipQuoted<R, Q>
    : ''
  : S extends `${infer C}${infer R}`
    ? C extends Q
      ? R
      : SkipQuoted<R, Q>
    : '';
type SkipLine<S extends string> = S extends `${string}\n${infer R}` ? R : '';

/**
 * The names of the variables in an Erlang pattern, found the way erl_scan
 * finds them: a name that starts with an upper-case letter or `_` outside
 * quotes, character literals (`$A`), comments and the `#Ref<...>`-style
 * prefixes. `_` alone is not a variable.
 */
export type PatternVariables<S extends string, Acc extends string = never> = S extends `${infer C}${infer R}`
  ? C extends "'" | '"'
    ? PatternVariables<SkipQuoted<R, C>, Acc>
    : C extends '$'
      ? R extends `\\${infer _E}${infer R2}`
        ? PatternVariables<R2, Acc>
        : R extends `${infer _C}${infer R2}`
          ? PatternVariables<R2, Acc>
          : Acc
      : C extends '%'
        ? PatternVariables<SkipLine<R>, Acc>
        : C extends '#' | Lower | Digit
          ? PatternVariables<SkipName<R>, Acc>
          : C extends Upper | '_'
            ? TakeName<R, C> extends [infer N extends string, infer Rest extends string]
              ? PatternVariables<Rest, N extends '_' ? Acc : Acc | N>
              : Acc
            : PatternVariables<R, Acc>
  : Acc;

/**
 * What {@link match} gives for the pattern `S`: one property per variable.
 * For a pattern that is not a literal type, any variable names.
 */
export type Bindings<S extends string> = string extends S ? Record<string, Term> : { [K in PatternVariables<S>]: Term };

/** A compiled pattern: made by {@link pattern}, accepted by {@link match} and `receive({ match })`. */
export interface Pattern<B = Record<string, Term>> {
  /** The pattern's text (spliced values show as `${0}`, `${1}`, ...). */
  readonly source: string;
  /** The variables' values when `value` matches, else `null`. */
  match(value: Term): B | null;
  /** Whether `value` matches. */
  test(value: Term): boolean;
}

// ---------------------------------------------------------------- parsing with holes

/** The text of a template with one placeholder character per spliced value, and their offsets. */
function joinTemplate(strings: readonly string[]): { text: string; holes: Map<number, number> } {
  let text = strings[0];
  const holes = new Map<number, number>();
  for (let i = 1; i < strings.length; i++) {
    holes.set(text.length, i - 1);
    text += `\u0000${strings[i]}`;
  }
  return { text, holes };
}

function parseTemplate(strings: TemplateStringsArray, mode: ParseMode): Term {
  const { text, holes } = joinTemplate(strings.raw);
  return parseTree(text, {}, mode, holes);
}

function templateSource(strings: TemplateStringsArray): string {
  return strings.raw.reduce((s, part, i) => `${s}\${${i - 1}}${part}`);
}

// ---------------------------------------------------------------- term

const templates = new WeakMap<TemplateStringsArray, Term>();

/** A tree with its holes filled: a new container for every container of the template. */
function fill(t: Term, values: readonly Term[]): Term {
  if (typeof t !== 'object' || t === null) return t;
  if (t instanceof Hole) return values[t.index];
  if (Array.isArray(t)) return t.map((x) => fill(x, values));
  if (t instanceof Tuple) return new Tuple(t.elements.map((x) => fill(x, values)));
  if (t instanceof ImproperList) return improper(t.elements.map((x) => fill(x, values)), fill(t.tail, values));
  if (t instanceof Map) {
    const m = new Map<Term, Term>();
    for (const [k, v] of t) m.set(fill(k, values), fill(v, values));
    return m;
  }
  if (t instanceof Buffer) return Buffer.from(t);
  if (t instanceof BitBinary) return new BitBinary(Buffer.from(t.data), t.bits);
  return t;
}

/**
 * Builds a term from Erlang syntax with JS values spliced in:
 *
 * ```ts
 * term`{send, ${from}, ${to}, ${text}, undefined}`   // {send, <...>, 1002, <<"hi">>, undefined}
 * term`#{user => ${id}, tags => [a, b | ${more}]}`
 * ```
 *
 * A spliced value is a term as it is (`${'hi'}` is the binary `<<"hi">>`; write
 * atoms in the literal text, or splice `atom(x)`). Values go where a term
 * goes: not inside quotes or `<<...>>`. The literal parts are parsed once per
 * call site; malformed text throws `ParseError` (`ERR_PARSE`). Also takes a
 * plain string (`term('{ok, 1}')`, the same as {@link parseTerm}).
 */
export function term(strings: TemplateStringsArray | string, ...values: Term[]): Term {
  if (typeof strings === 'string') return parseTree(strings, {}, 'term');
  let tree = templates.get(strings);
  if (tree === undefined) {
    tree = parseTemplate(strings, 'template');
    templates.set(strings, tree);
  }
  return fill(tree, values);
}

// ---------------------------------------------------------------- match

class CompiledPattern<B> implements Pattern<B> {
  constructor(
    readonly source: string,
    private readonly tree: Term,
    private readonly values: readonly Term[],
  ) {}

  match(value: Term): B | null {
    const bound = new Map<string, Term>();
    if (!matches(this.tree, value, this.values, bound)) return null;
    const out: Record<string, Term> = {};
    for (const [k, v] of bound) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    return out as B;
  }

  test(value: Term): boolean {
    return matches(this.tree, value, this.values, new Map());
  }

  toString(): string {
    return this.source;
  }
}

/** The heads and tail of a list value (`[1, 2]` is `[1, 2]` and `[]`); null for a non-list. */
function listParts(v: Term): { heads: Term[]; tail: Term } | null {
  if (Array.isArray(v)) return { heads: v, tail: [] };
  if (v instanceof ImproperList) return { heads: v.elements, tail: v.tail };
  return null;
}

/** The value under `key` in a map value (a `Map` or a plain object, whose keys are binaries). */
function lookup(map: Term, key: Term): { found: boolean; value?: Term } {
  if (map instanceof Map) {
    if (map.has(key)) return { found: true, value: map.get(key) };
    for (const [k, v] of map) if (termEquals(k, key)) return { found: true, value: v };
    return { found: false };
  }
  const proto = typeof map === 'object' && map !== null ? Object.getPrototypeOf(map) : undefined;
  if (proto !== Object.prototype && proto !== null) return { found: false };
  const name = typeof key === 'string' ? key : key instanceof Uint8Array ? Buffer.from(key).toString('utf8') : undefined;
  if (name === undefined || !Object.hasOwn(map as object, name)) return { found: false };
  if (typeof key !== 'string' && !termEquals(name, key)) return { found: false }; // not valid UTF-8
  return { found: true, value: (map as Record<string, Term>)[name] };
}

function isPlainObject(v: Term): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Erlang's pattern matching of `value` against `p`; binds variables in `bound`. */
function matches(p: Term, value: Term, values: readonly Term[], bound: Map<string, Term>): boolean {
  if (p instanceof Var) {
    if (p.name === '_') return true;
    if (bound.has(p.name)) return termEquals(bound.get(p.name)!, value);
    bound.set(p.name, value);
    return true;
  }
  if (p instanceof Hole) return termEquals(values[p.index], value);
  if (p instanceof Alias) return matches(p.left, value, values, bound) && matches(p.right, value, values, bound);
  if (p instanceof Tuple) {
    if (!(value instanceof Tuple) || value.elements.length !== p.elements.length) return false;
    for (let i = 0; i < p.elements.length; i++) if (!matches(p.elements[i], value.elements[i], values, bound)) return false;
    return true;
  }
  if (Array.isArray(p) && p.length === 0) return Array.isArray(value) && value.length === 0;
  if (Array.isArray(p) || p instanceof ImproperList) {
    const want = listParts(p)!;
    const got = listParts(value);
    if (got === null) return false;
    const n = want.heads.length;
    if (got.heads.length < n) return false;
    for (let i = 0; i < n; i++) if (!matches(want.heads[i], got.heads[i], values, bound)) return false;
    const rest = got.heads.length === n ? got.tail : improper(got.heads.slice(n), got.tail);
    return matches(want.tail, rest, values, bound);
  }
  if (p instanceof Map) {
    if (!(value instanceof Map) && !isPlainObject(value)) return false;
    for (const [k, vp] of p) {
      const key = k instanceof Hole ? values[k.index] : k;
      const e = lookup(value, key);
      if (!e.found || !matches(vp, e.value, values, bound)) return false;
    }
    return true;
  }
  return termEquals(p, value);
}

const cache = new Map<string, CompiledPattern<unknown>>();
const CACHE_MAX = 512;

function compiled<B>(source: string): CompiledPattern<B> {
  let c = cache.get(source);
  if (c === undefined) {
    c = new CompiledPattern(source, parseTree(source, {}, 'pattern'), []);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(source, c);
  }
  return c as CompiledPattern<B>;
}

const patternTrees = new WeakMap<TemplateStringsArray, Term>();

/**
 * Compiles an Erlang pattern, from a string (`pattern('{ok, X}')`) or as a
 * template tag whose spliced values are matched exactly:
 * `` pattern`{reply, ${ref}, Value}` ``. Malformed patterns throw `ParseError`.
 */
export function pattern<const S extends string>(source: S): Pattern<Bindings<S>>;
export function pattern(strings: TemplateStringsArray, ...values: Term[]): Pattern<Record<string, Term>>;
export function pattern(strings: TemplateStringsArray | string, ...values: Term[]): Pattern<Record<string, Term>> {
  if (typeof strings === 'string') return compiled(strings);
  let tree = patternTrees.get(strings);
  if (tree === undefined) {
    tree = parseTemplate(strings, 'pattern');
    patternTrees.set(strings, tree);
  }
  return new CompiledPattern(templateSource(strings), tree, values);
}

/**
 * Matches `value` against an Erlang pattern and returns the variables' values,
 * or `null` when it does not match:
 *
 * ```ts
 * const m = match('{chat_event, User, #{seq := Seq}}', msg);   // { User: Term; Seq: Term } | null
 * if (m) console.log(m.User, m.Seq);
 * ```
 *
 * The pattern is a string (compiled once and cached) or a {@link Pattern}.
 */
export function match<const S extends string>(pattern: S, value: Term): Bindings<S> | null;
export function match<B>(pattern: Pattern<B>, value: Term): B | null;
export function match(p: string | Pattern<unknown>, value: Term): unknown {
  return (typeof p === 'string' ? compiled(p) : p).match(value);
}

/** @internal True for what {@link pattern} returns (receive's `match` option takes it). */
export function isPattern(v: unknown): v is Pattern<unknown> {
  return v instanceof CompiledPattern;
}
