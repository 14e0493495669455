// TypeScript code generation from a parsed Thrift IDL.
//
// Output, per IDL: enums as TS enums; structs as an interface plus a codec
// object of the same name (read/write/encode/decode); exceptions as classes
// extending ThriftException; per service, method descriptors, a typed
// Promise client, a typed handler interface and a `serve<Service>` function.
// i64 is bigint everywhere (inputs also accept safe-integer numbers), and
// map<i64, V> decodes to an I64Map<V> (a Map<bigint, V> hashed on the exact
// 64-bit value). This file adds the services to types.ts's TypeGenerator.
import type { FunctionDef, ServiceDef, ThriftIdl } from '../idl.js';
import { TypeGenerator, typeText, functionText } from './types.js';

/** Options of {@link generateTypeScript}. */
export interface GenerateOptions {
  /** Module specifier the generated code imports its runtime from (default `beambridge/thrift/runtime`). */
  runtimeImport?: string;
  /** The IDL path to name in the header comment. */
  sourceName?: string;
}

const RESERVED_METHODS = new Set(['thrift', 'close', 'constructor', 'connect']);

class Generator extends TypeGenerator {
  private genMethod(svc: ServiceDef, fn: FunctionDef): string {
    this.use('MethodDescriptor', true);
    const d = `${svc.name}_${fn.name}`;
    const argTuple = `[${fn.args.map((a) => `${a.name}: ${this.argTsType(a, 'in')}`).join(', ')}]`;
    const resIn = fn.returns ? this.ts(fn.returns, 'in') : 'void';
    const resOut = fn.returns ? this.ts(fn.returns, 'out') : 'void';
    const lines = [
      `/** ${svc.name}.${fn.name}: ${functionText(fn)} */`,
      `export const ${d}: MethodDescriptor<${argTuple}, ${resOut}> = {`,
      `  name: '${fn.name}',`,
      `  oneway: ${fn.oneway},`,
      `  writeArgs(p: ThriftProtocol, a: ${argTuple}): void {`,
      ...this.writeFields(fn.args, (f) => `a[${fn.args.indexOf(f)}]`, `${fn.name}_args`).map((l) => `  ${l}`),
      `  },`,
      `  readArgs(p: ThriftProtocol): unknown[] {`,
      ...this.readFields(fn.args, `${fn.name}_args`).map((l) => `  ${l}`),
      `    return [${fn.args.map((a) => `f_${a.name}`).join(', ')}];`,
      `  },`,
      `  writeResult(p: ThriftProtocol, v: ${resIn}): void {`,
    ];
    if (fn.returns) {
      this.use('ThriftEncodeError');
      lines.push(
        `    if (v == null) throw new ThriftEncodeError('the ${fn.name} handler returned no result');`,
        `    p.writeStructBegin('${fn.name}_result');`,
        `    p.writeFieldBegin('success', ${this.ttype(fn.returns)}, 0);`,
        `    ${this.write(fn.returns, 'v')}`,
        `    p.writeFieldEnd();`,
      );
    } else lines.push(`    void v;`, `    p.writeStructBegin('${fn.name}_result');`);
    lines.push(`    p.writeFieldStop();`, `    p.writeStructEnd();`, `  },`);
    lines.push(`  writeException(p: ThriftProtocol, e: unknown): boolean {`);
    for (const x of fn.throws) {
      const r = this.resolve(x.type);
      if (r.kind !== 'struct' || r.def.kind !== 'exception') this.fail(`${fn.name} throws a non-exception ${typeText(x.type)}`);
      lines.push(
        `    if (e instanceof ${r.name}) {`,
        `      p.writeStructBegin('${fn.name}_result');`,
        `      p.writeFieldBegin('${x.name}', 12, ${x.id});`,
        `      ${r.name}.write(p, e);`,
        `      p.writeFieldEnd();`,
        `      p.writeFieldStop();`,
        `      p.writeStructEnd();`,
        `      return true;`,
        `    }`,
      );
    }
    if (fn.throws.length === 0) lines.push(`    void p;`, `    void e;`);
    lines.push(`    return false;`, `  },`);
    // readResult: success in field 0, declared exceptions in their ids.
    lines.push(`  readResult(p: ThriftProtocol): ${resOut} {`);
    if (fn.returns) lines.push(`    let success: ${resOut} | undefined;`);
    if (fn.throws.length) lines.push(`    let ex: Error | undefined;`);
    lines.push(`    p.readStructBegin();`, `    for (;;) {`, `      const h = p.readFieldBegin();`, `      const t = h.ftype;`);
    lines.push(`      if (t === 0) break;`);
    const cases: string[] = [];
    if (fn.returns) cases.push(`      if (h.fid === 0 && t === ${this.ttype(fn.returns)}) success = ${this.read(fn.returns)};`);
    for (const x of fn.throws) {
      cases.push(`      ${cases.length ? 'else ' : ''}if (h.fid === ${x.id} && t === 12) ex = ${this.structName(x.type)}.read(p);`);
    }
    if (cases.length) lines.push(...cases, `      else p.skip(t);`);
    else lines.push(`      p.skip(t);`);
    lines.push(`      p.readFieldEnd();`, `    }`, `    p.readStructEnd();`);
    if (fn.throws.length) lines.push(`    if (ex !== undefined) throw ex;`);
    if (fn.returns) {
      this.use('ThriftApplicationError');
      this.use('TApplicationExceptionType');
      lines.push(
        `    if (success === undefined) throw new ThriftApplicationError(TApplicationExceptionType.MISSING_RESULT, '${fn.name} failed: unknown result');`,
        `    return success;`,
      );
    }
    lines.push(`  },`, `};`);
    return lines.join('\n');
  }

  private genService(svc: ServiceDef): string {
    if (svc.extends) this.fail(`service ${svc.name} extends ${svc.extends}: not supported`);
    for (const fn of svc.functions) if (RESERVED_METHODS.has(fn.name)) this.fail(`function name ${fn.name} is reserved`);
    this.use('ThriftClient');
    this.use('serveThrift');
    for (const t of ['CallOptions', 'CallContext', 'MaybePromise', 'ServiceDescriptor', 'ThriftClientOptions', 'ThriftServer', 'ThriftServerOptions'])
      this.use(t, true);
    const parts = svc.functions.map((fn) => this.genMethod(svc, fn));
    const handler = [
      `/** Server-side implementation of service ${svc.name}: one method per function, each also given a CallContext. */`,
      `export interface ${svc.name}Handler {`,
      ...svc.functions.flatMap((fn) => [
        `  /** ${functionText(fn)} */`,
        `  ${fn.name}(${[...fn.args.map((a) => `${a.name}: ${this.argTsType(a, 'out')}`), 'ctx: CallContext'].join(', ')}): MaybePromise<${fn.returns ? this.ts(fn.returns, 'in') : 'void'}>;`,
      ]),
      `}`,
    ];
    const service = [
      `/** Service ${svc.name}: its functions by name. */`,
      `export const ${svc.name}Service: ServiceDescriptor = {`,
      `  name: '${svc.name}',`,
      `  methods: { ${svc.functions.map((fn) => `${fn.name}: ${svc.name}_${fn.name}`).join(', ')} },`,
      `};`,
    ];
    const client = [
      `/**`,
      ` * Typed Promise client of service ${svc.name}, over a pooled, pipelined`,
      ` * {@link ThriftClient}. Every method takes \`{ timeoutMs, signal }\` last.`,
      ` */`,
      `export class ${svc.name}Client {`,
      `  /** The connection pool and call machinery under this client. */`,
      `  readonly thrift: ThriftClient;`,
      '',
      `  constructor(thrift: ThriftClient) {`,
      `    this.thrift = thrift;`,
      `  }`,
      '',
      `  /** Connects (resolves once one pooled connection is up). */`,
      `  static async connect(options: ThriftClientOptions): Promise<${svc.name}Client> {`,
      `    return new ${svc.name}Client(await ThriftClient.connect(options));`,
      `  }`,
      ...svc.functions.flatMap((fn) => [
        '',
        `  /** ${functionText(fn)} */`,
        `  ${fn.name}(${[...fn.args.map((a) => `${a.name}: ${this.argTsType(a, 'in')}`), 'options?: CallOptions'].join(', ')}): Promise<${fn.returns ? this.ts(fn.returns, 'out') : 'void'}> {`,
        `    return this.thrift.call(${svc.name}_${fn.name}, [${fn.args.map((a) => a.name).join(', ')}], options);`,
        `  }`,
      ]),
      '',
      `  /** Closes every pooled connection; pending calls fail. */`,
      `  close(): Promise<void> {`,
      `    return this.thrift.close();`,
      `  }`,
      `}`,
    ];
    const serve = [
      `/** Serves ${svc.name} with \`handler\`; resolves once listening (see \`server.port\`). */`,
      `export function serve${svc.name}(handler: ${svc.name}Handler, options: ThriftServerOptions = {}): Promise<ThriftServer> {`,
      `  return serveThrift(${svc.name}Service, handler, options);`,
      `}`,
    ];
    return [...parts, handler.join('\n'), service.join('\n'), client.join('\n'), serve.join('\n')].join('\n\n');
  }

  generate(o: GenerateOptions): string {
    const body: string[] = [];
    for (const td of this.idl.typedefs) body.push(`export type ${td.name} = ${this.ts(td.type, 'out')};`);
    for (const e of this.idl.enums) body.push(this.genEnum(e));
    for (const c of this.idl.consts) body.push(`export const ${c.name}: ${this.ts(c.type, 'out')} = ${this.constExpr(c.type, c.value)};`);
    for (const s of this.idl.structs) body.push(s.kind === 'exception' ? this.genException(s) : this.genStruct(s));
    for (const svc of this.idl.services) body.push(this.genService(svc));
    const helpers = [...this.helpers.values()];
    const values = [...this.imports].sort();
    const types = [...this.typeImports].filter((t) => !this.imports.has(t)).sort();
    const runtime = o.runtimeImport ?? 'beambridge/thrift/runtime';
    const header = [
      `// Generated by beambridge's Thrift codegen from ${o.sourceName ?? 'an IDL'}. Do not edit:`,
      `// change the IDL and run \`npm run gen:thrift\`.`,
      `/* eslint-disable */`,
      `import {`,
      ...values.map((v) => `  ${v},`),
      ...types.map((t) => `  type ${t},`),
      `} from '${runtime}';`,
    ];
    return [header.join('\n'), ...body, ...helpers].join('\n\n') + '\n';
  }
}

/** Generates one TypeScript module for a parsed IDL. */
export function generateTypeScript(idl: ThriftIdl, o: GenerateOptions = {}): string {
  return new Generator(idl).generate(o);
}
