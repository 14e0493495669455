// A small parser for Thrift IDL: the subset real service contracts use.
//
// Supported: namespace, include (recorded, not followed), typedef, const
// (literal values), enum, struct, union, exception, service (functions,
// oneway, throws; `extends` is recorded), field ids, requiredness, default
// values, list/set/map and base types, comments (//, #, /* */), and type or
// field annotations `( key = "value" )`, which are skipped. Not supported:
// senum, xsd extensions, implicit (negative) field ids.
import { ThriftIdlError } from './errors.js';

/** A Thrift base type name. `binary` is a string of raw bytes. */
export type BaseTypeName = 'bool' | 'byte' | 'i8' | 'i16' | 'i32' | 'i64' | 'double' | 'string' | 'binary' | 'uuid';

/** A type as written in the IDL; named types are resolved by the consumer. */
export type TypeRef =
  | { kind: 'base'; name: BaseTypeName }
  | { kind: 'list'; elem: TypeRef }
  | { kind: 'set'; elem: TypeRef }
  | { kind: 'map'; key: TypeRef; value: TypeRef }
  | { kind: 'named'; name: string };

/** A literal value (a const, or a field default). */
export type ConstValue =
  | { kind: 'int'; value: bigint }
  | { kind: 'double'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'ident'; name: string }
  | { kind: 'list'; items: ConstValue[] }
  | { kind: 'map'; entries: [ConstValue, ConstValue][] };

export interface FieldDef {
  id: number;
  name: string;
  type: TypeRef;
  requiredness: 'required' | 'optional' | 'default';
  default?: ConstValue;
}

export interface StructDef {
  kind: 'struct' | 'union' | 'exception';
  name: string;
  fields: FieldDef[];
}

export interface EnumDef {
  name: string;
  values: { name: string; value: number }[];
}

export interface FunctionDef {
  name: string;
  oneway: boolean;
  /** `null` for `void`. */
  returns: TypeRef | null;
  args: FieldDef[];
  throws: FieldDef[];
}

export interface ServiceDef {
  name: string;
  extends?: string;
  functions: FunctionDef[];
}

/** A parsed IDL document. */
export interface ThriftIdl {
  namespaces: Record<string, string>;
  includes: string[];
  typedefs: { name: string; type: TypeRef }[];
  consts: { name: string; type: TypeRef; value: ConstValue }[];
  enums: EnumDef[];
  structs: StructDef[];
  services: ServiceDef[];
}

interface Token {
  kind: 'ident' | 'int' | 'double' | 'string' | 'punct' | 'eof';
  text: string;
  line: number;
  col: number;
}

const BASE_TYPES = new Set(['bool', 'byte', 'i8', 'i16', 'i32', 'i64', 'double', 'string', 'binary', 'uuid']);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    const col = i - lineStart + 1;
    if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new ThriftIdlError('unterminated comment', line, col);
      for (let k = i; k < end; k++) {
        if (src[k] === '\n') {
          line++;
          lineStart = k + 1;
        }
      }
      i = end + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let text = '';
      while (j < n && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < n) {
          const e = src[j + 1]!;
          text += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
          j += 2;
        } else {
          if (src[j] === '\n') throw new ThriftIdlError('unterminated string', line, col);
          text += src[j];
          j++;
        }
      }
      if (j >= n) throw new ThriftIdlError('unterminated string', line, col);
      out.push({ kind: 'string', text, line, col });
      i = j + 1;
      continue;
    }
    const num = /^[+-]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(src.slice(i, i + 64));
    if (num && (/\d/.test(c) || ((c === '+' || c === '-') && /\d/.test(src[i + 1] ?? '')))) {
      const isDouble = /[.eE]/.test(num[0]) && !/^[+-]?0x/i.test(num[0]);
      out.push({ kind: isDouble ? 'double' : 'int', text: num[0], line, col });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i, i + 256));
    if (id) {
      out.push({ kind: 'ident', text: id[0], line, col });
      i += id[0].length;
      continue;
    }
    if ('{}()<>[],;:=*'.includes(c)) {
      out.push({ kind: 'punct', text: c, line, col });
      i++;
      continue;
    }
    throw new ThriftIdlError(`unexpected character ${JSON.stringify(c)}`, line, col);
  }
  out.push({ kind: 'eof', text: '', line, col: i - lineStart + 1 });
  return out;
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.pos]!;
  }
  private next(): Token {
    return this.toks[this.pos++]!;
  }
  private fail(msg: string, t: Token = this.peek()): never {
    throw new ThriftIdlError(`${msg}, found ${t.kind === 'eof' ? 'end of file' : JSON.stringify(t.text)}`, t.line, t.col);
  }
  private isPunct(p: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === p;
  }
  private eatPunct(p: string): boolean {
    if (this.isPunct(p)) {
      this.pos++;
      return true;
    }
    return false;
  }
  private expectPunct(p: string): void {
    if (!this.eatPunct(p)) this.fail(`expected "${p}"`);
  }
  private ident(what = 'a name'): string {
    const t = this.peek();
    if (t.kind !== 'ident') this.fail(`expected ${what}`);
    this.pos++;
    return t.text;
  }
  private separator(): void {
    if (!this.eatPunct(',')) this.eatPunct(';');
  }
  // `( key = "value", ... )` after a type, field or definition: skipped.
  private annotations(): void {
    if (!this.isPunct('(')) return;
    let depth = 0;
    do {
      const t = this.next();
      if (t.kind === 'eof') this.fail('unterminated annotation', t);
      if (t.kind === 'punct' && t.text === '(') depth++;
      if (t.kind === 'punct' && t.text === ')') depth--;
    } while (depth > 0);
  }

  parse(): ThriftIdl {
    const idl: ThriftIdl = { namespaces: {}, includes: [], typedefs: [], consts: [], enums: [], structs: [], services: [] };
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') return idl;
      if (t.kind !== 'ident') this.fail('expected a definition');
      this.pos++;
      switch (t.text) {
        case 'namespace': {
          const scope = this.peek().kind === 'punct' && this.peek().text === '*' ? (this.next(), '*') : this.ident('a scope');
          idl.namespaces[scope] = this.ident('a namespace');
          this.annotations();
          break;
        }
        case 'include':
        case 'cpp_include': {
          const f = this.next();
          if (f.kind !== 'string') this.fail('expected a file name', f);
          if (t.text === 'include') idl.includes.push(f.text);
          break;
        }
        case 'typedef': {
          const type = this.type();
          const name = this.ident();
          this.annotations();
          idl.typedefs.push({ name, type });
          break;
        }
        case 'const': {
          const type = this.type();
          const name = this.ident();
          this.expectPunct('=');
          const value = this.constValue();
          idl.consts.push({ name, type, value });
          break;
        }
        case 'enum':
          idl.enums.push(this.enumDef());
          break;
        case 'struct':
        case 'union':
        case 'exception': {
          const name = this.ident();
          this.annotations();
          idl.structs.push({ kind: t.text, name, fields: this.fieldList('{', '}') });
          this.annotations();
          break;
        }
        case 'service':
          idl.services.push(this.serviceDef());
          break;
        default:
          this.fail('expected a definition', t);
      }
      this.separator();
    }
  }

  private enumDef(): EnumDef {
    const name = this.ident();
    this.expectPunct('{');
    const values: EnumDef['values'] = [];
    let next = 0;
    while (!this.eatPunct('}')) {
      const vname = this.ident('an enum value');
      if (this.eatPunct('=')) {
        const t = this.next();
        if (t.kind !== 'int') this.fail('expected an integer', t);
        next = Number(BigInt(t.text));
      }
      if ((next | 0) !== next) this.fail(`enum value out of i32 range`);
      values.push({ name: vname, value: next });
      next++;
      this.annotations();
      this.separator();
    }
    this.annotations();
    return { name, values };
  }

  private serviceDef(): ServiceDef {
    const name = this.ident();
    let ext: string | undefined;
    if (this.peek().kind === 'ident' && this.peek().text === 'extends') {
      this.pos++;
      ext = this.ident();
    }
    this.expectPunct('{');
    const functions: FunctionDef[] = [];
    while (!this.eatPunct('}')) {
      let oneway = false;
      if (this.peek().kind === 'ident' && this.peek().text === 'oneway') {
        this.pos++;
        oneway = true;
      }
      let returns: TypeRef | null;
      if (this.peek().kind === 'ident' && this.peek().text === 'void') {
        this.pos++;
        returns = null;
      } else returns = this.type();
      const fname = this.ident('a function name');
      const args = this.fieldList('(', ')');
      let throws: FieldDef[] = [];
      if (this.peek().kind === 'ident' && this.peek().text === 'throws') {
        this.pos++;
        throws = this.fieldList('(', ')');
      }
      this.annotations();
      this.separator();
      functions.push({ name: fname, oneway, returns, args, throws });
    }
    this.annotations();
    return ext === undefined ? { name, functions } : { name, extends: ext, functions };
  }

  private fieldList(open: string, close: string): FieldDef[] {
    this.expectPunct(open);
    const fields: FieldDef[] = [];
    while (!this.eatPunct(close)) {
      const idTok = this.next();
      if (idTok.kind !== 'int') this.fail('expected a field id (implicit ids are not supported)', idTok);
      const id = Number(idTok.text);
      if (!Number.isInteger(id) || id < 0 || id > 32767) this.fail('field id out of range', idTok);
      this.expectPunct(':');
      let requiredness: FieldDef['requiredness'] = 'default';
      const r = this.peek();
      if (r.kind === 'ident' && (r.text === 'required' || r.text === 'optional')) {
        this.pos++;
        requiredness = r.text;
      }
      const type = this.type();
      const name = this.ident('a field name');
      let def: ConstValue | undefined;
      if (this.eatPunct('=')) def = this.constValue();
      this.annotations();
      this.separator();
      if (fields.some((f) => f.id === id)) this.fail(`duplicate field id ${id}`, idTok);
      fields.push(def === undefined ? { id, name, type, requiredness } : { id, name, type, requiredness, default: def });
    }
    return fields;
  }

  private type(): TypeRef {
    const name = this.ident('a type');
    let t: TypeRef;
    if (name === 'list' || name === 'set') {
      this.expectPunct('<');
      const elem = this.type();
      this.expectPunct('>');
      t = { kind: name, elem };
    } else if (name === 'map') {
      this.expectPunct('<');
      const key = this.type();
      this.expectPunct(',');
      const value = this.type();
      this.expectPunct('>');
      t = { kind: 'map', key, value };
    } else if (BASE_TYPES.has(name)) {
      t = { kind: 'base', name: name as BaseTypeName };
    } else {
      t = { kind: 'named', name };
    }
    this.annotations();
    return t;
  }

  private constValue(): ConstValue {
    const t = this.next();
    switch (t.kind) {
      case 'int':
        return { kind: 'int', value: BigInt(t.text) };
      case 'double':
        return { kind: 'double', value: Number(t.text) };
      case 'string':
        return { kind: 'string', value: t.text };
      case 'ident':
        if (t.text === 'true' || t.text === 'false') return { kind: 'bool', value: t.text === 'true' };
        return { kind: 'ident', name: t.text };
      case 'punct':
        if (t.text === '[') {
          const items: ConstValue[] = [];
          while (!this.eatPunct(']')) {
            items.push(this.constValue());
            this.separator();
          }
          return { kind: 'list', items };
        }
        if (t.text === '{') {
          const entries: [ConstValue, ConstValue][] = [];
          while (!this.eatPunct('}')) {
            const k = this.constValue();
            this.expectPunct(':');
            entries.push([k, this.constValue()]);
            this.separator();
          }
          return { kind: 'map', entries };
        }
    }
    return this.fail('expected a value', t);
  }
}

/** Parses Thrift IDL text. Throws {@link ThriftIdlError} (with line and column) on bad input. */
export function parseThriftIdl(source: string): ThriftIdl {
  return new Parser(tokenize(source)).parse();
}

/** Follows typedefs until a non-typedef type. */
export function resolveTypedefs(idl: ThriftIdl, t: TypeRef): TypeRef {
  for (let hops = 0; hops < 64; hops++) {
    if (t.kind !== 'named') return t;
    const name = t.name;
    const td = idl.typedefs.find((d) => d.name === name);
    if (!td) return t;
    t = td.type;
  }
  return t;
}
