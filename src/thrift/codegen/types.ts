// The type half of the TypeScript generator: type mapping, value read/write
// expressions, container helpers, defaults and constants, enums, structs and
// exceptions. generate.ts adds services on top of it.
import type { ConstValue, FieldDef, FunctionDef, StructDef, ThriftIdl, TypeRef } from '../idl.js';
import { resolveTypedefs } from '../idl.js';
import { declaredExceptionCode } from '../errors.js';

type R =
  | { kind: 'base'; name: string }
  | { kind: 'enum'; name: string }
  | { kind: 'struct'; name: string; def: StructDef }
  | { kind: 'list' | 'set'; elem: TypeRef }
  | { kind: 'map'; key: TypeRef; value: TypeRef };

const TTYPE_OF_BASE: Record<string, number> = {
  bool: 2,
  byte: 3,
  i8: 3,
  i16: 6,
  i32: 8,
  i64: 10,
  double: 4,
  string: 11,
  binary: 11,
};
const RESERVED_EXCEPTION_FIELDS = new Set(['name', 'code', 'stack', 'cause', 'thriftName', 'constructor']);

export class TypeGenerator {
  protected readonly helpers = new Map<string, string>();
  protected readonly imports = new Set<string>();
  protected readonly typeImports = new Set<string>();
  protected readonly enums: Map<string, { name: string; values: { name: string; value: number }[] }>;
  protected readonly structs: Map<string, StructDef>;

  constructor(protected readonly idl: ThriftIdl) {
    this.enums = new Map(idl.enums.map((e) => [e.name, e]));
    this.structs = new Map(idl.structs.map((s) => [s.name, s]));
  }

  protected fail(msg: string): never {
    throw new Error(`thrift codegen: ${msg}`);
  }

  protected resolve(t: TypeRef): R {
    const r = resolveTypedefs(this.idl, t);
    switch (r.kind) {
      case 'base':
        if (r.name === 'uuid') this.fail('uuid is not supported');
        return { kind: 'base', name: r.name };
      case 'list':
      case 'set':
        return { kind: r.kind, elem: r.elem };
      case 'map':
        return { kind: 'map', key: r.key, value: r.value };
      case 'named': {
        const name = r.name.includes('.') ? this.fail(`included type ${r.name} is not supported`) : r.name;
        if (this.enums.has(name)) return { kind: 'enum', name };
        const def = this.structs.get(name);
        if (def) return { kind: 'struct', name, def };
        return this.fail(`unknown type ${name}`);
      }
    }
  }

  protected ttype(t: TypeRef): number {
    const r = this.resolve(t);
    switch (r.kind) {
      case 'base':
        return TTYPE_OF_BASE[r.name]!;
      case 'enum':
        return 8;
      case 'struct':
        return 12;
      case 'map':
        return 13;
      case 'set':
        return 14;
      case 'list':
        return 15;
    }
  }

  /** The TS type of a decoded value (`out`) or of a value accepted for writing (`in`). */
  protected ts(t: TypeRef, mode: 'out' | 'in'): string {
    const r = this.resolve(t);
    switch (r.kind) {
      case 'base':
        if (r.name === 'i64') return mode === 'in' ? this.use('I64Input', true) : 'bigint';
        if (r.name === 'binary') return mode === 'in' ? 'Uint8Array' : 'Buffer';
        if (r.name === 'string') return 'string';
        if (r.name === 'bool') return 'boolean';
        return 'number';
      case 'enum':
      case 'struct':
        return r.name;
      case 'list':
        return mode === 'in' ? `readonly ${this.wrap(this.ts(r.elem, mode))}[]` : `${this.wrap(this.ts(r.elem, mode))}[]`;
      case 'set':
        return `${mode === 'in' ? 'ReadonlySet' : 'Set'}<${this.ts(r.elem, mode)}>`;
      case 'map':
        if (mode === 'out' && this.isI64(r.key)) return `${this.use('I64Map')}<${this.ts(r.value, mode)}>`;
        return `${mode === 'in' ? 'ReadonlyMap' : 'Map'}<${this.ts(r.key, mode)}, ${this.ts(r.value, mode)}>`;
    }
  }

  protected isI64(t: TypeRef): boolean {
    const r = this.resolve(t);
    return r.kind === 'base' && r.name === 'i64';
  }

  protected wrap(s: string): string {
    return /[ |]/.test(s) ? `(${s})` : s;
  }

  protected use(name: string, typeOnly = false): string {
    (typeOnly ? this.typeImports : this.imports).add(name);
    return name;
  }

  protected key(t: TypeRef): string {
    const r = this.resolve(t);
    switch (r.kind) {
      case 'base':
      case 'enum':
      case 'struct':
        return r.name;
      case 'list':
      case 'set':
        return `${r.kind}_${this.key(r.elem)}`;
      case 'map':
        return `map_${this.key(r.key)}_${this.key(r.value)}`;
    }
  }

  /** An expression reading one value of type `t` from `p`. */
  protected read(t: TypeRef): string {
    const r = this.resolve(t);
    switch (r.kind) {
      case 'base': {
        const m: Record<string, string> = {
          bool: 'readBool',
          byte: 'readByte',
          i8: 'readByte',
          i16: 'readI16',
          i32: 'readI32',
          i64: 'readI64',
          double: 'readDouble',
          string: 'readString',
          binary: 'readBinary',
        };
        return `p.${m[r.name]}()`;
      }
      case 'enum':
        return `(p.readI32() as ${r.name})`;
      case 'struct':
        return `${r.name}.read(p)`;
      default:
        return `${this.readHelper(t)}(p)`;
    }
  }

  /** A statement writing `expr` (of type `t`) to `p`. */
  protected write(t: TypeRef, expr: string): string {
    const r = this.resolve(t);
    switch (r.kind) {
      case 'base': {
        const m: Record<string, string> = {
          bool: 'writeBool',
          byte: 'writeByte',
          i8: 'writeByte',
          i16: 'writeI16',
          i32: 'writeI32',
          i64: 'writeI64',
          double: 'writeDouble',
          string: 'writeString',
          binary: 'writeBinary',
        };
        return `p.${m[r.name]}(${expr});`;
      }
      case 'enum':
        return `p.writeI32(${expr});`;
      case 'struct':
        return `${r.name}.write(p, ${expr});`;
      default:
        return `${this.writeHelper(t)}(p, ${expr});`;
    }
  }

  protected readHelper(t: TypeRef): string {
    const name = `read_${this.key(t)}`;
    if (this.helpers.has(name)) return name;
    this.helpers.set(name, ''); // reserve (recursive types)
    const r = this.resolve(t);
    this.use('ThriftProtocol', true);
    this.use('elementTypeError');
    let body: string;
    if (r.kind === 'map') {
      const kt = this.ttype(r.key);
      const vt = this.ttype(r.value);
      const i64 = this.isI64(r.key);
      body = [
        `function ${name}(p: ThriftProtocol): ${this.ts(t, 'out')} {`,
        `  const h = p.readMapBegin();`,
        `  if (h.size !== 0 && (h.ktype !== ${kt} || h.vtype !== ${vt})) throw elementTypeError('map', h.ktype, h.vtype);`,
        `  const n = h.size;`,
        ...(i64
          ? [
              // i64 keys go into an I64Map as int32 halves: no bigint is made or hashed.
              `  const out: ${this.ts(t, 'out')} = new I64Map(n);`,
              `  const k = { hi: 0, lo: 0 };`,
              `  for (let i = 0; i < n; i++) {`,
              `    p.readI64Parts(k);`,
              `    const hi = k.hi;`,
              `    const lo = k.lo;`,
              `    out.setParts(hi, lo, ${this.read(r.value)});`,
              `  }`,
            ]
          : [
              `  const out: ${this.ts(t, 'out')} = new Map();`,
              `  for (let i = 0; i < n; i++) {`,
              `    const k = ${this.read(r.key)};`,
              `    out.set(k, ${this.read(r.value)});`,
              `  }`,
            ]),
        `  p.readMapEnd();`,
        `  return out;`,
        `}`,
      ].join('\n');
    } else if (r.kind === 'list' || r.kind === 'set') {
      const et = this.ttype(r.elem);
      const isList = r.kind === 'list';
      body = [
        `function ${name}(p: ThriftProtocol): ${this.ts(t, 'out')} {`,
        `  const h = p.${isList ? 'readListBegin' : 'readSetBegin'}();`,
        `  if (h.size !== 0 && h.etype !== ${et}) throw elementTypeError('${r.kind}', h.etype);`,
        isList
          ? `  const out: ${this.ts(t, 'out')} = new Array(h.size);`
          : `  const out: ${this.ts(t, 'out')} = new Set();`,
        `  for (let i = 0; i < h.size; i++) ${isList ? `out[i] = ${this.read(r.elem)};` : `out.add(${this.read(r.elem)});`}`,
        `  p.${isList ? 'readListEnd' : 'readSetEnd'}();`,
        `  return out;`,
        `}`,
      ].join('\n');
    } else return this.fail('not a container');
    this.helpers.set(name, body);
    return name;
  }

  protected writeHelper(t: TypeRef): string {
    const name = `write_${this.key(t)}`;
    if (this.helpers.has(name)) return name;
    this.helpers.set(name, '');
    const r = this.resolve(t);
    this.use('ThriftProtocol', true);
    let body: string;
    if (r.kind === 'map') {
      body = [
        `function ${name}(p: ThriftProtocol, v: ${this.ts(t, 'in')}): void {`,
        `  p.writeMapBegin(${this.ttype(r.key)}, ${this.ttype(r.value)}, v.size);`,
        ...(this.isI64(r.key)
          ? [
              `  if (v instanceof ${this.use('I64Map')}) {`,
              `    v.forEachParts((x, hi, lo) => {`,
              `      p.writeI64Parts(hi, lo);`,
              `      ${this.write(r.value, 'x')}`,
              `    });`,
              `  } else {`,
              `    v.forEach((x, k) => {`,
              `      ${this.write(r.key, 'k')}`,
              `      ${this.write(r.value, 'x')}`,
              `    });`,
              `  }`,
            ]
          : [
              `  v.forEach((x, k) => {`,
              `    ${this.write(r.key, 'k')}`,
              `    ${this.write(r.value, 'x')}`,
              `  });`,
            ]),
        `  p.writeMapEnd();`,
        `}`,
      ].join('\n');
    } else if (r.kind === 'list') {
      body = [
        `function ${name}(p: ThriftProtocol, v: ${this.ts(t, 'in')}): void {`,
        `  p.writeListBegin(${this.ttype(r.elem)}, v.length);`,
        `  for (let i = 0; i < v.length; i++) ${this.write(r.elem, 'v[i]!')}`,
        `  p.writeListEnd();`,
        `}`,
      ].join('\n');
    } else if (r.kind === 'set') {
      body = [
        `function ${name}(p: ThriftProtocol, v: ${this.ts(t, 'in')}): void {`,
        `  p.writeSetBegin(${this.ttype(r.elem)}, v.size);`,
        `  v.forEach((x) => ${this.write(r.elem, 'x').replace(/;$/, '')});`,
        `  p.writeSetEnd();`,
        `}`,
      ].join('\n');
    } else return this.fail('not a container');
    this.helpers.set(name, body);
    return name;
  }

  /** The value an absent field decodes to: its IDL default, the type's zero, or undefined for structs. */
  protected zero(f: FieldDef): string | undefined {
    if (f.default !== undefined) return this.constExpr(f.type, f.default);
    const r = this.resolve(f.type);
    switch (r.kind) {
      case 'base':
        return r.name === 'i64' ? '0n' : r.name === 'bool' ? 'false' : r.name === 'string' ? "''" : r.name === 'binary' ? 'Buffer.alloc(0)' : '0';
      case 'enum': {
        const e = this.enums.get(r.name)!;
        const z = e.values.find((v) => v.value === 0);
        return z ? `${r.name}.${z.name}` : `(0 as ${r.name})`;
      }
      case 'list':
        return '[]';
      case 'set':
        return 'new Set()';
      case 'map':
        return this.isI64(r.key) ? `new ${this.use('I64Map')}()` : 'new Map()';
      case 'struct':
        return undefined;
    }
  }

  protected constExpr(t: TypeRef, v: ConstValue): string {
    const r = this.resolve(t);
    switch (v.kind) {
      case 'int':
        if (r.kind === 'base' && r.name === 'i64') return `${v.value}n`;
        if (r.kind === 'base' && r.name === 'double') return String(Number(v.value));
        if (r.kind === 'enum') {
          const e = this.enums.get(r.name)!.values.find((x) => BigInt(x.value) === v.value);
          return e ? `${r.name}.${e.name}` : `(${v.value} as ${r.name})`;
        }
        return String(v.value);
      case 'double':
        return String(v.value);
      case 'string':
        return JSON.stringify(v.value);
      case 'bool':
        return String(v.value);
      case 'ident': {
        const [a, b] = v.name.split('.');
        if (b !== undefined && this.enums.has(a!)) return `${a}.${b}`;
        if (this.idl.consts.some((c) => c.name === v.name)) return v.name;
        return this.fail(`unknown constant ${v.name}`);
      }
      case 'list':
        if (r.kind === 'set') return `new Set([${v.items.map((x) => this.constExpr(r.elem, x)).join(', ')}])`;
        if (r.kind === 'list') return `[${v.items.map((x) => this.constExpr(r.elem, x)).join(', ')}]`;
        return this.fail('list constant for a non-list type');
      case 'map':
        if (r.kind !== 'map') return this.fail('map constant for a non-map type');
        return `new ${this.isI64(r.key) ? this.use('I64Map') : 'Map'}([${v.entries.map(([k, x]) => `[${this.constExpr(r.key, k)}, ${this.constExpr(r.value, x)}]`).join(', ')}])`;
    }
  }

  protected optionalInTs(f: FieldDef, union: boolean): boolean {
    return union || f.requiredness === 'optional' || (f.requiredness === 'default' && this.zero(f) === undefined);
  }

  protected describeField(f: FieldDef): string {
    return `${f.id}: ${f.requiredness === 'default' ? '' : `${f.requiredness} `}${typeText(f.type)} ${f.name}`;
  }

  /** Statements reading a field list into `f_<name>` locals (struct bodies and args structs). */
  protected readFields(fields: FieldDef[], ctx: string, union = false): string[] {
    const lines: string[] = [];
    for (const f of fields) {
      const z = this.zero(f);
      const type = this.ts(f.type, 'out');
      lines.push(
        union || f.requiredness === 'optional' || z === undefined
          ? `  let f_${f.name}: ${type} | undefined;`
          : `  let f_${f.name}: ${type} = ${z};`,
      );
    }
    const required = fields.filter((f) => f.requiredness === 'required');
    if (required.length > 0) lines.push(`  let seen = 0;`);
    lines.push(`  p.readStructBegin();`, `  for (;;) {`, `    const h = p.readFieldBegin();`, `    const t = h.ftype;`);
    lines.push(`    if (t === 0) break;`);
    if (fields.length > 0) {
      lines.push(`    switch (h.fid) {`);
      for (const f of fields) {
        const bit = required.indexOf(f);
        lines.push(`      case ${f.id}:`);
        lines.push(`        if (t === ${this.ttype(f.type)}) {`);
        lines.push(`          f_${f.name} = ${this.read(f.type)};`);
        if (bit >= 0) lines.push(`          seen |= ${1 << bit};`);
        lines.push(`        } else p.skip(t);`, `        break;`);
      }
      lines.push(`      default:`, `        p.skip(t);`, `    }`);
    } else lines.push(`    p.skip(t);`);
    lines.push(`    p.readFieldEnd();`, `  }`, `  p.readStructEnd();`);
    if (required.length > 0) {
      this.use('missingFieldError');
      const all = (1 << required.length) - 1;
      lines.push(
        `  if (seen !== ${all}) throw missingFieldError('${ctx}', [${required.map((f) => `'${f.name}'`).join(', ')}], seen);`,
      );
    }
    return lines;
  }

  /** Statements writing fields from expressions `get(f)`. */
  protected writeFields(fields: FieldDef[], get: (f: FieldDef) => string, structName: string): string[] {
    const lines = [`  p.writeStructBegin('${structName}');`];
    for (const f of fields) {
      const v = get(f);
      const body = [`p.writeFieldBegin('${f.name}', ${this.ttype(f.type)}, ${f.id});`, this.write(f.type, v), `p.writeFieldEnd();`];
      if (f.requiredness === 'required') {
        this.use('ThriftEncodeError');
        lines.push(`  if (${v} == null) throw new ThriftEncodeError('${structName}.${f.name} is required');`);
        lines.push(...body.map((b) => `  ${b}`));
      } else {
        lines.push(`  if (${v} != null) {`, ...body.map((b) => `    ${b}`), `  }`);
      }
    }
    lines.push(`  p.writeFieldStop();`, `  p.writeStructEnd();`);
    return lines;
  }

  protected genEnum(e: { name: string; values: { name: string; value: number }[] }): string {
    return [`/** enum ${e.name} */`, `export enum ${e.name} {`, ...e.values.map((v) => `  ${v.name} = ${v.value},`), `}`].join('\n');
  }

  protected genStruct(s: StructDef): string {
    this.use('ThriftProtocol', true);
    this.use('StructCodec', true);
    this.use('ProtocolName', true);
    this.use('encodeWith');
    this.use('decodeWith');
    const union = s.kind === 'union';
    const iface = [`/** ${s.kind} ${s.name} */`, `export interface ${s.name} {`];
    for (const f of s.fields) {
      iface.push(`  /** ${this.describeField(f)} */`);
      iface.push(`  ${f.name}${this.optionalInTs(f, union) ? '?' : ''}: ${this.ts(f.type, 'out')};`);
    }
    iface.push('}');
    const read = [
      `function read${s.name}(p: ThriftProtocol): ${s.name} {`,
      ...this.readFields(s.fields, s.name, union),
      `  return { ${s.fields.map((f) => `${f.name}: f_${f.name}`).join(', ')} }${s.fields.length ? '' : ` as ${s.name}`};`,
      `}`,
    ];
    const write = [
      `function write${s.name}(p: ThriftProtocol, v: ${s.name}): void {`,
      ...this.writeFields(s.fields, (f) => `v.${f.name}`, s.name),
      `}`,
    ];
    const codec = [
      `/** Reads, writes, encodes and decodes ${s.name} (binary by default, or compact). */`,
      `export const ${s.name}: StructCodec<${s.name}> = {`,
      `  read: read${s.name},`,
      `  write: write${s.name},`,
      `  encode: (v: ${s.name}, protocol: ProtocolName = 'binary'): Buffer => encodeWith(protocol, write${s.name}, v),`,
      `  decode: (bytes: Uint8Array, protocol: ProtocolName = 'binary'): ${s.name} => decodeWith(protocol, read${s.name}, bytes),`,
      `};`,
    ];
    return [...iface, '', ...read, '', ...write, '', ...codec].join('\n');
  }

  protected genException(s: StructDef): string {
    this.use('ThriftException');
    this.use('ThriftProtocol', true);
    this.use('ProtocolName', true);
    this.use('encodeWith');
    this.use('decodeWith');
    this.use('describeException');
    for (const f of s.fields) if (RESERVED_EXCEPTION_FIELDS.has(f.name)) this.fail(`exception ${s.name} has a field named ${f.name}`);
    const hasMessage = s.fields.some((f) => f.name === 'message');
    const props = s.fields.map((f) => `${f.name}${this.optionalInTs(f, false) ? '?' : ''}: ${this.ts(f.type, 'out')}`);
    const lines = [
      `/** exception ${s.name}: code \`${declaredExceptionCode(s.name)}\`. */`,
      `export class ${s.name} extends ThriftException {`,
      `  readonly thriftName = '${s.name}';`,
      ...s.fields.flatMap((f) => [
        `  /** ${this.describeField(f)} */`,
        `  ${hasMessage && f.name === 'message' ? 'override ' : ''}${f.name}${this.optionalInTs(f, false) ? '?' : ''}: ${this.ts(f.type, 'out')};`,
      ]),
      '',
      `  constructor(fields: { ${props.join('; ')} }${s.fields.every((f) => this.optionalInTs(f, false)) ? ' = {}' : ''}) {`,
      `    super('${declaredExceptionCode(s.name)}', describeException('${s.name}', fields));`,
      ...s.fields.map((f) => `    this.${f.name} = fields.${f.name};`),
      `  }`,
      '',
      `  static read(p: ThriftProtocol): ${s.name} {`,
      ...this.readFields(s.fields, s.name).map((l) => `  ${l}`),
      `    return new ${s.name}({ ${s.fields.map((f) => `${f.name}: f_${f.name}`).join(', ')} });`,
      `  }`,
      '',
      `  static write(p: ThriftProtocol, v: ${s.name}): void {`,
      ...this.writeFields(s.fields, (f) => `v.${f.name}`, s.name).map((l) => `  ${l}`),
      `  }`,
      '',
      `  static encode(v: ${s.name}, protocol: ProtocolName = 'binary'): Buffer {`,
      `    return encodeWith(protocol, ${s.name}.write, v);`,
      `  }`,
      '',
      `  static decode(bytes: Uint8Array, protocol: ProtocolName = 'binary'): ${s.name} {`,
      `    return decodeWith(protocol, ${s.name}.read, bytes);`,
      `  }`,
      `}`,
    ];
    return lines.join('\n');
  }

  protected structName(t: TypeRef): string {
    const r = this.resolve(t);
    return r.kind === 'struct' ? r.name : this.fail(`${typeText(t)} is not a struct`);
  }

  protected argTsType(f: FieldDef, mode: 'in' | 'out'): string {
    const t = this.ts(f.type, mode);
    return mode === 'out' && this.zero(f) === undefined ? `${t} | undefined` : t;
  }
}

export function typeText(t: TypeRef): string {
  switch (t.kind) {
    case 'base':
    case 'named':
      return t.name;
    case 'list':
    case 'set':
      return `${t.kind}<${typeText(t.elem)}>`;
    case 'map':
      return `map<${typeText(t.key)}, ${typeText(t.value)}>`;
  }
}

export function functionText(fn: FunctionDef): string {
  const args = fn.args.map((a) => `${a.id}: ${typeText(a.type)} ${a.name}`).join(', ');
  const throws = fn.throws.length ? ` throws (${fn.throws.map((a) => `${a.id}: ${typeText(a.type)} ${a.name}`).join(', ')})` : '';
  return `${fn.oneway ? 'oneway ' : ''}${fn.returns ? typeText(fn.returns) : 'void'} ${fn.name}(${args})${throws}`;
}
