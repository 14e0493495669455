/**
 * Erlang term equality (`=:=`) and Erlang's standard term order (`<`, `==`).
 *
 * Type order (Erlang reference manual, "Term Comparisons"):
 *
 *     number < atom < reference < fun < port < pid < tuple < map < nil < list < bit string
 *
 * Details follow erts `erts_cmp`; the tests check them against running OTP 25,
 * 27 and 29 (random terms: every pair's `<`, `==`, `=:=` and `lists:sort`):
 * - numbers: an integer and a float compare by exact mathematical value, so
 *   `compareTerms(1, new Float(1))` is 0 while `termEquals` is false. Bigints are
 *   compared exactly against floats (no rounding through doubles).
 * - atoms: by their text, code point by code point (= UTF-8 byte order).
 * - references: node name, then node creation, then the id words from the last
 *   (most significant) one down, trailing zero words ignored.
 * - funs: every local fun sorts before every `fun M:F/A`. Local funs: module name,
 *   old index, old uniq, number of free variables, then the free variables. The
 *   creator pid is ignored (as erts does). Export funs: module, function, arity.
 * - ports: node name, creation, then id. Pids: serial, then id, then node name,
 *   then creation.
 * - tuples: size, then elements. Lists: element by element, a shorter proper
 *   list first; improper tails compare as terms. Bitstrings: bit by bit, a prefix
 *   first.
 * - maps: size; then the keys, both sorted in map key order (the term order in
 *   which every integer is below every float, compared exactly), pairwise; then
 *   the values in that key order. Inside keys comparison is always exact, so
 *   `#{1 => a} < #{1.0 => a}` and the two are not `==`.
 *
 * Floats: `0.0` and `-0.0` follow OTP 27+ (the newest) semantics: they are not
 * `=:=` (termEquals is false) but are `==` (compareTerms gives 0); in map key order
 * `-0.0` sorts just before `0.0`. OTP 25 and 26 treat them as `=:=`.
 *
 * A {@link LocalExt} is opaque: it sorts after every other term and compares by
 * its bytes. NaN and infinities are not Erlang terms; their results are unspecified.
 *
 * Both functions are iterative (an explicit stack), so a 100,000-deep term
 * cannot overflow the call stack.
 */
import {
  Atom,
  BitBinary,
  ExportFun,
  Float,
  Fun,
  ImproperList,
  LocalExt,
  Pid,
  Port,
  Reference,
  Tuple,
  type Term,
} from './types.js';

// Kinds double as the cross-type order: everything but the two numeric kinds
// compares by kind. K_DEGEN is an ImproperList with no heads (just its tail).
const K_INT = 0;
const K_FLOAT = 1;
const K_ATOM = 2;
const K_REF = 3;
const K_FUN = 4;
const K_EXPORT = 5;
const K_PORT = 6;
const K_PID = 7;
const K_TUPLE = 8;
const K_MAP = 9;
const K_NIL = 10;
const K_LIST = 11;
const K_BITS = 12;
const K_LOCAL = 13;
const K_DEGEN = 14;

// Stack opcodes (pushed last, popped first).
const OP_ARRAY = 1; // xs, ys, i: compare xs[i..] with ys[i..] (same length)
const OP_LIST = 2; // xs, i, xtail, ys, j, ytail
const OP_EXACT = 3; // saved exact flag

const EMPTY: Term[] = [];

type Sorted = { keys: Term[]; vals: Term[] };
type Ctx = Map<object, Sorted>;

/** The kind of a term; throws for JS values that are not terms. */
function kindOf(t: Term): number {
  switch (typeof t) {
    case 'number':
      return Number.isInteger(t) ? K_INT : K_FLOAT;
    case 'bigint':
      return K_INT;
    case 'string':
      return K_BITS;
    case 'boolean':
    case 'undefined':
      return K_ATOM;
    case 'object':
      if (t === null) return K_ATOM;
      if (Array.isArray(t)) return t.length === 0 ? K_NIL : K_LIST;
      if (t instanceof Atom) return K_ATOM;
      if (t instanceof Tuple) return K_TUPLE;
      if (t instanceof Uint8Array) return K_BITS;
      if (t instanceof Map) return K_MAP;
      if (t instanceof Float) return K_FLOAT;
      if (t instanceof Pid) return K_PID;
      if (t instanceof Reference) return K_REF;
      if (t instanceof Port) return K_PORT;
      if (t instanceof BitBinary) return K_BITS;
      if (t instanceof ImproperList) return t.elements.length === 0 ? K_DEGEN : K_LIST;
      if (t instanceof ExportFun) return K_EXPORT;
      if (t instanceof Fun) return K_FUN;
      if (t instanceof LocalExt) return K_LOCAL;
      return K_MAP; // a plain object: a map with binary keys
  }
  throw new TypeError(`not an Erlang term: ${typeof t}`);
}

function atomName(t: Term): string {
  if (t instanceof Atom) return t.name;
  if (t === true) return 'true';
  if (t === false) return 'false';
  return 'undefined';
}

/** Code point order of two JS strings (also UTF-8 byte order). */
export function compareCodePoints(x: string, y: string): number {
  if (x === y) return 0;
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) {
    const cx = x.charCodeAt(i);
    const cy = y.charCodeAt(i);
    if (cx !== cy) {
      // A surrogate starts a code point above U+FFFF, above every BMP unit.
      const sx = cx >= 0xd800 && cx <= 0xdfff;
      const sy = cy >= 0xd800 && cy <= 0xdfff;
      if (sx !== sy) return sx ? 1 : -1;
      return cx < cy ? -1 : 1;
    }
  }
  return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
}

function cmpScalar(x: number | bigint, y: number | bigint): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function numValue(t: Term): number | bigint {
  return t instanceof Float ? t.value : (t as number | bigint);
}

/** Arithmetic comparison (`<`, `==`): exact value, integer and float alike. */
function cmpNumber(a: Term, b: Term): number {
  return cmpScalar(numValue(a), numValue(b));
}

/** Exact comparison (`=:=`, map key order): integers below floats, -0.0 below 0.0. */
function cmpNumberExact(a: Term, ka: number, b: Term, kb: number): number {
  if (ka !== kb) return ka < kb ? -1 : 1;
  const x = numValue(a);
  const y = numValue(b);
  const r = cmpScalar(x, y);
  if (r !== 0 || ka === K_INT || x !== 0) return r;
  const nx = Object.is(x, -0);
  return nx === Object.is(y, -0) ? 0 : nx ? -1 : 1;
}

function bitsData(t: Term): Uint8Array {
  if (typeof t === 'string') return Buffer.from(t, 'utf8');
  if (t instanceof BitBinary) return t.data;
  return t as Uint8Array;
}

function bitsLength(t: Term, data: Uint8Array): number {
  return t instanceof BitBinary ? t.bitLength : data.length * 8;
}

/** Bitstrings bit by bit; a prefix sorts first. */
function cmpBits(a: Term, b: Term): number {
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  const da = bitsData(a);
  const db = bitsData(b);
  const na = bitsLength(a, da);
  const nb = bitsLength(b, db);
  const n = na < nb ? na : nb;
  const full = Math.floor(n / 8);
  const r =
    full === da.length && full === db.length
      ? Buffer.compare(da, db)
      : Buffer.compare(da.subarray(0, full), db.subarray(0, full));
  if (r !== 0) return r;
  const rest = n - full * 8;
  if (rest > 0) {
    const x = da[full] >> (8 - rest);
    const y = db[full] >> (8 - rest);
    if (x !== y) return x < y ? -1 : 1;
  }
  return na < nb ? -1 : na > nb ? 1 : 0;
}

function cmpNode(an: Atom, ac: number, bn: Atom, bc: number): number {
  if (an !== bn) {
    const r = compareCodePoints(an.name, bn.name);
    if (r !== 0) return r;
  }
  return cmpScalar(ac, bc);
}

function cmpPid(a: Pid, b: Pid): number {
  if (a.serial !== b.serial) return a.serial < b.serial ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return cmpNode(a.node, a.creation, b.node, b.creation);
}

function cmpPort(a: Port, b: Port): number {
  return cmpNode(a.node, a.creation, b.node, b.creation) || cmpScalar(a.id, b.id);
}

function cmpRef(a: Reference, b: Reference): number {
  const r = cmpNode(a.node, a.creation, b.node, b.creation);
  if (r !== 0) return r;
  const x = a.ids;
  const y = b.ids;
  let i = x.length;
  let j = y.length;
  while (i > 0 && x[i - 1] === 0) i--;
  while (j > 0 && y[j - 1] === 0) j--;
  if (i !== j) return i < j ? -1 : 1;
  while (i-- > 0) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

function cmpExport(a: ExportFun, b: ExportFun): number {
  return (
    compareCodePoints(a.module.name, b.module.name) ||
    compareCodePoints(a.function.name, b.function.name) ||
    cmpScalar(a.arity, b.arity)
  );
}

/** Everything of a local fun but its free variables. */
function cmpFunHead(a: Fun, b: Fun): number {
  return (
    compareCodePoints(a.module.name, b.module.name) ||
    cmpScalar(a.oldIndex, b.oldIndex) ||
    cmpScalar(a.oldUniq, b.oldUniq) ||
    cmpScalar(a.freeVars.length, b.freeVars.length)
  );
}

function mapSize(m: Term): number {
  return m instanceof Map ? m.size : Object.keys(m as object).length;
}

/** True for terms that contain no map (cheap check on the common key types). */
function isFlat(t: Term): boolean {
  return typeof t !== 'object' || t === null || t instanceof Atom || t instanceof Uint8Array || t instanceof Float;
}

/**
 * The entries of `m` sorted in map key order, memoized in `ctx`. Maps reachable
 * from the keys are sorted first (deepest first), so a key comparison never
 * needs to sort: no recursion however deeply maps nest inside keys.
 */
function sortedEntries(m: object, ctx: Ctx): Sorted {
  const done = ctx.get(m);
  if (done !== undefined) return done;
  if (m instanceof Map) {
    let flat = true;
    for (const k of m.keys()) {
      if (!isFlat(k)) {
        flat = false;
        break;
      }
    }
    if (!flat) presortKeys(m, ctx);
    return sortMap(m, ctx);
  }
  const o = m as { [key: string]: Term };
  const keys = Object.keys(o).sort(compareCodePoints);
  const s: Sorted = { keys, vals: keys.map((k) => o[k]) };
  ctx.set(m, s);
  return s;
}

/** Sorts, deepest first, every map reachable from the keys of `m`. */
function presortKeys(m: Map<Term, Term>, ctx: Ctx): void {
  const seen = new Set<object>();
  const order: object[] = [];
  const todo: Term[] = [...m.keys()];
  while (todo.length > 0) {
    const t = todo.pop();
    if (isFlat(t) || seen.has(t as object)) continue;
    seen.add(t as object);
    if (Array.isArray(t)) {
      for (const x of t) todo.push(x);
    } else if (t instanceof Tuple) {
      for (const x of t.elements) todo.push(x);
    } else if (t instanceof ImproperList) {
      for (const x of t.elements) todo.push(x);
      todo.push(t.tail);
    } else if (t instanceof Fun) {
      for (const x of t.freeVars) todo.push(x);
    } else if (t instanceof Map) {
      order.push(t);
      for (const [k, v] of t) todo.push(k, v);
    } else if (kindOf(t) === K_MAP) {
      order.push(t as object);
      for (const v of Object.values(t as object)) todo.push(v as Term);
    }
  }
  // Reversed pre-order: every map comes after the maps inside it.
  for (let i = order.length - 1; i >= 0; i--) {
    const x = order[i];
    if (ctx.has(x)) continue;
    if (x instanceof Map) sortMap(x, ctx);
    else sortedEntries(x, ctx);
  }
}

/** Sorts a Map's entries by key (its key maps must be sorted already). */
function sortMap(m: Map<Term, Term>, ctx: Ctx): Sorted {
  const all = [...m.keys()];
  // Sort positions, not keys: Array.prototype.sort moves `undefined` to the end unasked.
  const order = all.map((_, i) => i).sort((i, j) => core(all[i], all[j], true, false, ctx));
  const keys = order.map((i) => all[i]);
  const s: Sorted = { keys, vals: keys.map((k) => m.get(k)!) };
  ctx.set(m, s);
  return s;
}

/**
 * The comparison engine. `exact`: `=:=`-style number comparison (also used for
 * map keys). `eqOnly`: the caller only needs zero / non-zero, which lets maps
 * pair their values by key lookup instead of sorting. Returns -1, 0 or 1.
 */
function core(a: Term, b: Term, exact: boolean, eqOnly: boolean, ctx: Ctx | null): number {
  let st: unknown[] | null = null;
  for (;;) {
    compare: if (a !== b) {
      let ka = kindOf(a);
      let kb = kindOf(b);
      while (ka === K_DEGEN) ka = kindOf((a = (a as ImproperList).tail));
      while (kb === K_DEGEN) kb = kindOf((b = (b as ImproperList).tail));
      if (ka <= K_FLOAT && kb <= K_FLOAT) {
        const r = exact ? cmpNumberExact(a, ka, b, kb) : cmpNumber(a, b);
        if (r !== 0) return r;
        break compare;
      }
      if (ka !== kb) return ka < kb ? -1 : 1;
      let r = 0;
      switch (ka) {
        case K_ATOM:
          r = compareCodePoints(atomName(a), atomName(b));
          break;
        case K_BITS:
          r = cmpBits(a, b);
          break;
        case K_NIL:
          break;
        case K_TUPLE: {
          const xs = (a as Tuple).elements;
          const ys = (b as Tuple).elements;
          if (xs.length !== ys.length) return xs.length < ys.length ? -1 : 1;
          if (xs.length === 0) break compare;
          if (xs.length > 1) (st ??= []).push(xs, ys, 1, OP_ARRAY);
          a = xs[0];
          b = ys[0];
          continue;
        }
        case K_LIST: {
          const xs = Array.isArray(a) ? a : (a as ImproperList).elements;
          const ys = Array.isArray(b) ? b : (b as ImproperList).elements;
          (st ??= []).push(
            xs,
            0,
            Array.isArray(a) ? EMPTY : (a as ImproperList).tail,
            ys,
            0,
            Array.isArray(b) ? EMPTY : (b as ImproperList).tail,
            OP_LIST,
          );
          break compare;
        }
        case K_MAP: {
          const sa = mapSize(a);
          const sb = mapSize(b);
          if (sa !== sb) return sa < sb ? -1 : 1;
          if (sa === 0) break compare;
          if (eqOnly && a instanceof Map && b instanceof Map) {
            // Same JS keys on both sides: pair the values by lookup.
            let all = true;
            for (const k of a.keys()) {
              if (!b.has(k)) {
                all = false;
                break;
              }
            }
            if (all) {
              const xs: Term[] = [];
              const ys: Term[] = [];
              for (const [k, v] of a) {
                xs.push(v);
                ys.push(b.get(k)!);
              }
              (st ??= []).push(xs, ys, 0, OP_ARRAY);
              break compare;
            }
          }
          ctx ??= new Map();
          const ea = sortedEntries(a as object, ctx);
          const eb = sortedEntries(b as object, ctx);
          st ??= [];
          // Values last, in the current mode; keys first, exactly.
          st.push(ea.vals, eb.vals, 0, OP_ARRAY, exact, OP_EXACT);
          if (sa > 1) st.push(ea.keys, eb.keys, 1, OP_ARRAY);
          exact = true;
          a = ea.keys[0];
          b = eb.keys[0];
          continue;
        }
        case K_PID:
          r = cmpPid(a as Pid, b as Pid);
          break;
        case K_PORT:
          r = cmpPort(a as Port, b as Port);
          break;
        case K_REF:
          r = cmpRef(a as Reference, b as Reference);
          break;
        case K_EXPORT:
          r = cmpExport(a as ExportFun, b as ExportFun);
          break;
        case K_FUN: {
          r = cmpFunHead(a as Fun, b as Fun);
          if (r === 0 && (a as Fun).freeVars.length > 0) {
            (st ??= []).push((a as Fun).freeVars, (b as Fun).freeVars, 0, OP_ARRAY);
          }
          break;
        }
        case K_LOCAL:
          r = Buffer.compare((a as LocalExt).bytes, (b as LocalExt).bytes);
          break;
      }
      if (r !== 0) return r;
    }

    // Next pair from the stack.
    for (;;) {
      if (st === null || st.length === 0) return 0;
      const op = st.pop() as number;
      if (op === OP_ARRAY) {
        const i = st.pop() as number;
        const ys = st.pop() as Term[];
        const xs = st.pop() as Term[];
        if (i + 1 < xs.length) st.push(xs, ys, i + 1, OP_ARRAY);
        a = xs[i];
        b = ys[i];
        break;
      }
      if (op === OP_LIST) {
        let ytail = st.pop() as Term;
        let j = st.pop() as number;
        let ys = st.pop() as Term[];
        let xtail = st.pop() as Term;
        let i = st.pop() as number;
        let xs = st.pop() as Term[];
        // Step into the tails while they are lists.
        while (i === xs.length && isCons(xtail)) {
          if (Array.isArray(xtail)) {
            xs = xtail;
            xtail = EMPTY;
          } else {
            xs = (xtail as ImproperList).elements;
            xtail = (xtail as ImproperList).tail;
          }
          i = 0;
        }
        while (j === ys.length && isCons(ytail)) {
          if (Array.isArray(ytail)) {
            ys = ytail;
            ytail = EMPTY;
          } else {
            ys = (ytail as ImproperList).elements;
            ytail = (ytail as ImproperList).tail;
          }
          j = 0;
        }
        const xmore = i < xs.length;
        const ymore = j < ys.length;
        if (xmore && ymore) {
          st.push(xs, i + 1, xtail, ys, j + 1, ytail, OP_LIST);
          a = xs[i];
          b = ys[j];
        } else if (!xmore && !ymore) {
          a = xtail;
          b = ytail;
        } else if (!xmore) {
          // x is down to its tail, a non-list; y still has a cons cell.
          return kindOf(xtail) < K_LIST ? -1 : 1;
        } else {
          return kindOf(ytail) < K_LIST ? 1 : -1;
        }
        break;
      }
      // OP_EXACT
      exact = st.pop() as boolean;
    }
  }
}

/** A tail that continues the list: a non-empty array or an ImproperList. */
function isCons(t: Term): boolean {
  return Array.isArray(t) ? t.length > 0 : t instanceof ImproperList;
}

/**
 * Erlang's `=:=`: true when `a` and `b` are the same term. An integer never
 * equals a float (`1` vs `new Float(1)`), but `1` equals `1n`, `2.5` equals
 * `new Float(2.5)`, a JS string equals the Buffer of its UTF-8 bytes, `null` and
 * `undefined` equal the atom `undefined`, booleans equal the atoms `true` and
 * `false`, a plain object equals a `Map` with the same binary keys, and a
 * `BitBinary` with `bits === 8` equals the Buffer of its bytes. `0.0` and `-0.0`
 * differ (OTP 27+ semantics; see the module comment).
 *
 * Fast for primitives and safe for arbitrarily deep terms.
 */
export function termEquals(a: Term, b: Term): boolean {
  if (a === b) return true;
  const ta = typeof a;
  const tb = typeof b;
  // Fast answers for primitives; an ImproperList with no heads is its tail, so it goes the long way.
  if (ta === 'number') {
    if (tb === 'number') return false;
    if (tb === 'bigint') return Number.isInteger(a) && (a as number) == (b as unknown as number);
    if (b instanceof Float) return !Number.isInteger(a) && a === b.value;
    if (!(b instanceof ImproperList)) return false;
  } else if (ta === 'bigint') {
    if (tb === 'number') return Number.isInteger(b) && (a as unknown as number) == (b as number);
    if (!(b instanceof ImproperList)) return false;
  } else if (ta === 'string' && tb === 'string') return false;
  if (a instanceof Atom && b instanceof Atom) return a.name === b.name;
  return core(a, b, true, true, null) === 0;
}

/**
 * Erlang's standard term order: negative when `a < b`, 0 when `a == b`, positive
 * when `a > b` (always -1, 0 or 1). Integers and floats compare by value, so
 * `compareTerms(1, new Float(1))` is 0 (Erlang `1 == 1.0`). Suitable for
 * `Array.prototype.sort`; safe for arbitrarily deep terms.
 *
 * This is the documented order (Erlang reference manual, "Term Comparisons").
 * OTP 26 and later depart from it in one case: two maps whose keys hold
 * atom-keyed maps (e.g. `#{#{false => 1} => v}`) compare those inner maps with
 * their atoms in atom-table order, which can differ from one VM to another
 * (erlang/otp#11568). Every other comparison agrees with erl (test/etf/compare.test.ts).
 */
export function compareTerms(a: Term, b: Term): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Atom && b instanceof Atom) return compareCodePoints(a.name, b.name);
  return core(a, b, false, false, null);
}

/**
 * Map key order: the exact term order Erlang uses to sort map keys (every
 * integer below every float, `-0.0` below `0.0`). Zero exactly when
 * {@link termEquals} is true.
 */
export function compareMapKeys(a: Term, b: Term): number {
  return core(a, b, true, false, null);
}
