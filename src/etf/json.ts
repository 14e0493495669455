/**
 * A lossless JSON form of Erlang terms: {@link termToJson} writes it and
 * {@link jsonToTerm} reads it back (the CLI's `beambridge etf decode --json`
 * and `etf encode --json` use these). Plain JSON where it is unambiguous,
 * one-key tagged objects elsewhere:
 *
 * | Erlang                     | JSON                                                       |
 * |----------------------------|------------------------------------------------------------|
 * | integer (safe range)       | number without fraction, e.g. `42`                         |
 * | integer (outside it)       | `{"$int": "18446744073709551616"}`                         |
 * | float                      | non-integral number (`2.5`), or `{"$float": 1.0}`, `{"$float": -0.0}` |
 * | `true`, `false`            | `true`, `false`                                            |
 * | other atom                 | `{"$atom": "ok"}`                                          |
 * | binary, valid UTF-8        | string                                                     |
 * | other binary               | `{"$bin": "<base64>"}`                                     |
 * | bitstring                  | `{"$bits": "<base64>", "bits": 3}` (bits used in the last byte) |
 * | proper list                | array                                                      |
 * | improper list              | `{"$list": [1, 2], "$tail": 3}`                            |
 * | tuple                      | `{"$tuple": [...]}`                                        |
 * | map                        | `{"$map": [[key, value], ...]}` (any keys)                 |
 * | pid                        | `{"$pid": {"node", "id", "serial", "creation"}}`           |
 * | port                       | `{"$port": {"node", "id", "creation"}}` (a 64-bit id as a string) |
 * | reference                  | `{"$ref": {"node", "creation", "ids": [...]}}`             |
 * | `fun M:F/A`                | `{"$export": {"module", "function", "arity"}}`             |
 * | local fun                  | `{"$fun": {"module", "arity", "uniq", "index", "oldIndex", "oldUniq", "pid", "freeVars"}}` |
 * | LOCAL_EXT                  | `{"$local": "<base64>"}`                                   |
 *
 * Writing is iterative, so terms nested a million deep print fine.
 */
import { BeamBridgeError } from '../errors.js';
import { Atom, atom, BitBinary, ExportFun, Float, Fun, ImproperList, LocalExt, Pid, Port, Reference, Tuple, type Term } from './types.js';

/**
 * Thrown by {@link jsonToTerm} for JSON that is not in the tagged form, and by
 * {@link termToJson} for a JS value that is not a term (code `ERR_JSON_TERM`).
 */
export class JsonTermError extends BeamBridgeError {
  constructor(message: string) {
    super('ERR_JSON_TERM', message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text written as is (as opposed to a term still to be written). */
class Lit {
  constructor(readonly s: string) {}
}

function num(n: number | bigint): string {
  if (typeof n === 'bigint') return Number.isSafeInteger(Number(n)) && BigInt(Number(n)) === n ? String(n) : JSON.stringify(String(n));
  return String(n);
}

function floatText(v: number): string {
  if (Object.is(v, -0)) return '-0.0';
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** The pieces one term is written as: literal text and nested terms, in order. */
function pieces(t: Term): (Lit | Term)[] | string {
  if (typeof t === 'number') {
    if (!Number.isFinite(t)) throw new JsonTermError(`${t} is not an Erlang number`);
    return Number.isInteger(t) && !Number.isSafeInteger(t) ? `{"$int":"${BigInt(t)}"}` : String(t);
  }
  if (typeof t === 'bigint') return Number.isSafeInteger(Number(t)) && BigInt(Number(t)) === t ? String(t) : `{"$int":"${t}"}`;
  if (typeof t === 'boolean') return String(t);
  if (typeof t === 'string') return JSON.stringify(t);
  if (t === null || t === undefined) return '{"$atom":"undefined"}';
  if (t instanceof Atom) return `{"$atom":${JSON.stringify(t.name)}}`;
  if (t instanceof Float) return `{"$float":${floatText(t.value)}}`;
  if (t instanceof Uint8Array) {
    try {
      return JSON.stringify(utf8.decode(t));
    } catch {
      return `{"$bin":"${Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('base64')}"}`;
    }
  }
  if (Array.isArray(t)) return seq('[', t, ']');
  if (t instanceof Tuple) return seq('{"$tuple":[', t.elements, ']}');
  if (t instanceof ImproperList) return [...seq('{"$list":[', t.elements, '],"$tail":'), t.tail, new Lit('}')];
  if (t instanceof Map) {
    const out: (Lit | Term)[] = [new Lit('{"$map":[')];
    let first = true;
    for (const [k, v] of t) {
      out.push(new Lit(first ? '[' : ',['), k, new Lit(','), v, new Lit(']'));
      first = false;
    }
    out.push(new Lit(']}'));
    return out;
  }
  if (t instanceof BitBinary) return `{"$bits":"${t.data.toString('base64')}","bits":${t.bits}}`;
  if (t instanceof Pid) return `{"$pid":${pidBody(t)}}`;
  if (t instanceof Port) return `{"$port":{"node":${JSON.stringify(t.node.name)},"id":${num(t.id)},"creation":${t.creation}}}`;
  if (t instanceof Reference) return `{"$ref":{"node":${JSON.stringify(t.node.name)},"creation":${t.creation},"ids":[${t.ids.join(',')}]}}`;
  if (t instanceof ExportFun) {
    return `{"$export":{"module":${JSON.stringify(t.module.name)},"function":${JSON.stringify(t.function.name)},"arity":${t.arity}}}`;
  }
  if (t instanceof Fun) {
    const head =
      `{"$fun":{"module":${JSON.stringify(t.module.name)},"arity":${t.arity},"uniq":"${t.uniq.toString('hex')}","index":${t.index},` +
      `"oldIndex":${num(t.oldIndex)},"oldUniq":${num(t.oldUniq)},"pid":${pidBody(t.pid)},"freeVars":[`;
    return seq(head, t.freeVars, ']}}');
  }
  if (t instanceof LocalExt) return `{"$local":"${t.bytes.toString('base64')}"}`;
  if (typeof t === 'object') {
    // A plain object encodes as a map with binary keys.
    return pieces(new Map(Object.entries(t as Record<string, Term>)));
  }
  throw new JsonTermError(`cannot write ${typeof t} as a term`);
}

function pidBody(p: Pid): string {
  return `{"node":${JSON.stringify(p.node.name)},"id":${p.id},"serial":${p.serial},"creation":${p.creation}}`;
}

function seq(open: string, items: readonly Term[], close: string): (Lit | Term)[] {
  const out: (Lit | Term)[] = [new Lit(open)];
  items.forEach((x, i) => {
    if (i > 0) out.push(new Lit(','));
    out.push(x);
  });
  out.push(new Lit(close));
  return out;
}

/** The term as one line of lossless JSON (see the module comment for the form). */
export function termToJson(term: Term): string {
  const out: string[] = [];
  const stack: (Lit | Term)[] = [term];
  while (stack.length > 0) {
    const x = stack.pop() as Lit | Term;
    if (x instanceof Lit) {
      out.push(x.s);
      continue;
    }
    const p = pieces(x);
    if (typeof p === 'string') out.push(p);
    else for (let i = p.length - 1; i >= 0; i--) stack.push(p[i]);
  }
  return out.join('');
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JsonTermError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new JsonTermError(`${what} must be a non-negative integer`);
  return v;
}

function big(v: unknown, what: string): number | bigint {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw new JsonTermError(`${what} must be an integer`);
}

function name(v: unknown, what: string): Atom {
  if (typeof v !== 'string') throw new JsonTermError(`${what} must be a string`);
  return atom(v);
}

function pidOf(v: unknown): Pid {
  const p = obj(v, '$pid');
  return new Pid(name(p.node, 'pid node'), int(p.id, 'pid id'), int(p.serial, 'pid serial'), int(p.creation, 'pid creation'));
}

function bytes(v: unknown, what: string): Buffer {
  if (typeof v !== 'string') throw new JsonTermError(`${what} must be a base64 string`);
  return Buffer.from(v, 'base64');
}

/**
 * The inverse of {@link termToJson}: a parsed JSON value back to the term.
 * `JSON.parse` loses `-0.0` (it reads `{"$float": -0.0}` as -0, which is kept)
 * and nothing else the writer produces.
 */
export function jsonToTerm(v: unknown): Term {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(jsonToTerm);
  const o = obj(v, 'a tagged term');
  const keys = Object.keys(o);
  const tag = keys.find((k) => k.startsWith('$'));
  const x = tag === undefined ? undefined : o[tag];
  switch (tag) {
    case '$int':
      return big(x, '$int');
    case '$float':
      if (typeof x !== 'number') throw new JsonTermError('$float must be a number');
      return new Float(x);
    case '$atom':
      return name(x, '$atom');
    case '$bin':
      return bytes(x, '$bin');
    case '$bits': {
      const bits = int(o.bits, 'bits');
      if (bits < 1 || bits > 8) throw new JsonTermError('bits must be 1 to 8');
      return new BitBinary(bytes(x, '$bits'), bits);
    }
    case '$list':
      if (!Array.isArray(x) || x.length === 0) throw new JsonTermError('$list must be a non-empty array');
      return new ImproperList(x.map(jsonToTerm), jsonToTerm(o.$tail));
    case '$tuple':
      if (!Array.isArray(x)) throw new JsonTermError('$tuple must be an array');
      return new Tuple(x.map(jsonToTerm));
    case '$map': {
      if (!Array.isArray(x)) throw new JsonTermError('$map must be an array of [key, value] pairs');
      const m = new Map<Term, Term>();
      for (const pair of x) {
        if (!Array.isArray(pair) || pair.length !== 2) throw new JsonTermError('$map must be an array of [key, value] pairs');
        m.set(jsonToTerm(pair[0]), jsonToTerm(pair[1]));
      }
      return m;
    }
    case '$pid':
      return pidOf(x);
    case '$port': {
      const p = obj(x, '$port');
      return new Port(name(p.node, 'port node'), big(p.id, 'port id'), int(p.creation, 'port creation'));
    }
    case '$ref': {
      const r = obj(x, '$ref');
      if (!Array.isArray(r.ids)) throw new JsonTermError('$ref ids must be an array');
      return new Reference(name(r.node, 'ref node'), int(r.creation, 'ref creation'), r.ids.map((i) => int(i, 'ref id')));
    }
    case '$export': {
      const e = obj(x, '$export');
      return new ExportFun(name(e.module, 'module'), name(e.function, 'function'), int(e.arity, 'arity'));
    }
    case '$fun': {
      const f = obj(x, '$fun');
      if (!Array.isArray(f.freeVars)) throw new JsonTermError('$fun freeVars must be an array');
      if (typeof f.uniq !== 'string' || !/^[0-9a-f]{32}$/i.test(f.uniq)) throw new JsonTermError('$fun uniq must be 32 hex digits');
      return new Fun(
        int(f.arity, 'arity'),
        Buffer.from(f.uniq, 'hex'),
        int(f.index, 'index'),
        name(f.module, 'module'),
        big(f.oldIndex, 'oldIndex'),
        big(f.oldUniq, 'oldUniq'),
        pidOf(f.pid),
        f.freeVars.map(jsonToTerm),
      );
    }
    case '$local':
      return new LocalExt(bytes(x, '$local'));
    default:
      throw new JsonTermError(`unknown JSON term object with keys ${keys.join(', ') || '(none)'}`);
  }
}
