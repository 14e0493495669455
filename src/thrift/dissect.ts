// A generic Thrift message dissector: message type, method, seqid and the
// whole field tree (ids, wire types, values, byte offsets), for any message in
// binary or compact, framed or not. Given a parsed IDL it adds the field,
// struct and enum names. It reads through the same protocol classes as the
// client and server, never recurses deeper than `maxDepth`, and reports
// malformed input as ThriftProtocolError with the offset where it stopped.
import { asProtocolError } from './codec.js';
import { readerFor, readerOffset, typeName, TType, type ProtocolName, type ThriftProtocol } from './protocol.js';
import { resolveTypedefs, type FieldDef, type StructDef, type ThriftIdl, type TypeRef } from './idl.js';
import { ThriftProtocolError } from './errors.js';

/** Options of {@link dissectThriftMessage}. */
export interface DissectOptions {
  /** Wire protocol; detected from the first message byte when absent (0x82 compact, else binary). */
  protocol?: ProtocolName;
  /** Whether a 4-byte frame length comes first; `auto` (default) detects it. */
  framed?: boolean | 'auto';
  /** A parsed IDL (see parseThriftIdl) to name methods' fields, nested struct fields and enum values. */
  idl?: ThriftIdl;
  /** Deepest nesting accepted (default 64). */
  maxDepth?: number;
}

/** Where a dissected item sits, in bytes from the start of the message (after any frame header). */
export interface Span {
  offset: number;
  length: number;
}

/** One decoded value with its wire type. */
export type DissectedValue = Span &
  (
    | { type: 'bool'; value: boolean }
    | { type: 'byte' | 'i16' | 'double'; value: number }
    | { type: 'i32'; value: number; enumName?: string; enumValue?: string }
    | { type: 'i64'; value: bigint }
    | { type: 'string'; value: string; bytes: Buffer; utf8: boolean }
    | { type: 'uuid'; value: string }
    | { type: 'struct'; typeName?: string; fields: DissectedField[] }
    | { type: 'list' | 'set'; elemType: string; elements: DissectedValue[] }
    | { type: 'map'; keyType: string; valueType: string; entries: { key: DissectedValue; value: DissectedValue }[] }
  );

/** One field of a struct: its id, its name (with an IDL), and its value. */
export interface DissectedField extends Span {
  id: number;
  name?: string;
  value: DissectedValue;
}

/** A dissected message. */
export interface DissectedMessage {
  protocol: ProtocolName;
  framed: boolean;
  /** The length the frame header declared, when framed. */
  frameLength?: number;
  messageType: 'call' | 'reply' | 'exception' | 'oneway' | 'unknown';
  messageTypeId: number;
  method: string;
  seqid: number;
  /** The service defining `method`, when an IDL was given and has it. */
  service?: string;
  /** The struct the body is: `<method>_args`, `<method>_result` or `TApplicationException`. */
  structName: string;
  /** The body's fields. */
  fields: DissectedField[];
  /** Bytes of the message (header and body). */
  length: number;
  /** Bytes after the message (in the frame or the input). */
  trailing: number;
}

const MESSAGE_TYPES = ['unknown', 'call', 'reply', 'exception', 'oneway'] as const;
const TAPP_FIELDS: FieldDef[] = [
  { id: 1, name: 'message', type: { kind: 'base', name: 'string' }, requiredness: 'default' },
  { id: 2, name: 'type', type: { kind: 'base', name: 'i32' }, requiredness: 'default' },
];
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Dissects one Thrift message. Throws ThriftProtocolError (with `offset`)
 * for bytes that are not a message of the given (or detected) protocol.
 */
export function dissectThriftMessage(bytes: Uint8Array, o: DissectOptions = {}): DissectedMessage {
  const input = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const framed = o.framed === undefined || o.framed === 'auto' ? looksFramed(input) : o.framed;
  let body = input;
  let frameLength: number | undefined;
  if (framed) {
    if (input.length < 4) throw new ThriftProtocolError('too short for a frame header', { offset: 0, code: 'ERR_THRIFT_TRUNCATED' });
    frameLength = input.readInt32BE(0);
    if (frameLength < 0) throw new ThriftProtocolError(`negative frame length ${frameLength}`, { offset: 0 });
    if (frameLength > input.length - 4) {
      throw new ThriftProtocolError(`frame declares ${frameLength} bytes, ${input.length - 4} present`, {
        offset: 0,
        code: 'ERR_THRIFT_TRUNCATED',
      });
    }
    body = input.subarray(4, 4 + frameLength);
  }
  if (body.length === 0) throw new ThriftProtocolError('empty message', { offset: 0, code: 'ERR_THRIFT_TRUNCATED' });
  const protocol = o.protocol ?? (body[0] === 0x82 ? 'compact' : 'binary');
  const p = readerFor(protocol, body);
  const d = new Dissector(p, o.idl, o.maxDepth ?? 64);
  try {
    const h = p.readMessageBegin();
    const kind = MESSAGE_TYPES[h.mtype] ?? 'unknown';
    let service: string | undefined;
    let fields: FieldDef[] | undefined;
    let structName = kind === 'reply' ? `${h.fname}_result` : `${h.fname}_args`;
    if (kind === 'exception') {
      fields = TAPP_FIELDS;
      structName = 'TApplicationException';
    } else if (o.idl) {
      for (const svc of o.idl.services) {
        const fn = svc.functions.find((f) => f.name === h.fname);
        if (!fn) continue;
        service = svc.name;
        fields =
          kind === 'reply'
            ? [
                ...(fn.returns ? [{ id: 0, name: 'success', type: fn.returns, requiredness: 'optional' as const }] : []),
                ...fn.throws,
              ]
            : fn.args;
        break;
      }
    }
    const start = readerOffset(p);
    const value = d.struct(fields, start, 1);
    const out: DissectedMessage = {
      protocol,
      framed,
      messageType: kind,
      messageTypeId: h.mtype,
      method: h.fname,
      seqid: h.rseqid,
      structName,
      fields: value.fields,
      length: readerOffset(p),
      trailing: body.length - readerOffset(p) + (framed ? input.length - 4 - body.length : 0),
    };
    if (frameLength !== undefined) out.frameLength = frameLength;
    if (service !== undefined) out.service = service;
    return out;
  } catch (e) {
    throw asProtocolError(e, p);
  }
}

/** Framed when the first 4 bytes are a length that fits and a message header follows. */
function looksFramed(b: Buffer): boolean {
  if (b.length < 5) return false;
  if (b[0] === 0x80 && b[1] === 0x01) return false; // strict binary header: a frame length is never negative
  if (b[0] === 0x82) return false; // compact header
  const n = b.readInt32BE(0);
  if (n === b.length - 4) return true;
  return n >= 0 && n <= b.length - 4 && (b[4] === 0x80 || b[4] === 0x82);
}

class Dissector {
  constructor(
    private readonly p: ThriftProtocol,
    private readonly idl: ThriftIdl | undefined,
    private readonly maxDepth: number,
  ) {}

  private at(): number {
    return readerOffset(this.p);
  }

  private structDef(hint: TypeRef | undefined): StructDef | undefined {
    if (!hint || !this.idl) return undefined;
    const r = resolveTypedefs(this.idl, hint);
    return r.kind === 'named' ? this.idl.structs.find((s) => s.name === r.name) : undefined;
  }

  struct(fields: FieldDef[] | undefined, start: number, depth: number, typeName?: string): DissectedValue & { type: 'struct' } {
    if (depth > this.maxDepth) throw new ThriftProtocolError(`nesting deeper than ${this.maxDepth}`, { offset: start, code: 'ERR_THRIFT_DEPTH' });
    const p = this.p;
    const out: DissectedField[] = [];
    p.readStructBegin();
    for (;;) {
      const fieldStart = this.at();
      const h = p.readFieldBegin();
      const ftype = h.ftype;
      const fid = h.fid; // (the header object is reused by nested reads)
      if (ftype === TType.STOP) break;
      const def = fields?.find((f) => f.id === fid);
      const value = this.value(ftype, def?.type, depth + 1);
      p.readFieldEnd();
      const field: DissectedField = { id: fid, offset: fieldStart, length: this.at() - fieldStart, value };
      if (def) field.name = def.name;
      out.push(field);
    }
    p.readStructEnd();
    const v: DissectedValue & { type: 'struct' } = { type: 'struct', offset: start, length: this.at() - start, fields: out };
    if (typeName !== undefined) v.typeName = typeName;
    return v;
  }

  value(t: number, hint: TypeRef | undefined, depth: number): DissectedValue {
    const p = this.p;
    const offset = this.at();
    const span = () => ({ offset, length: this.at() - offset });
    const resolved = hint && this.idl ? resolveTypedefs(this.idl, hint) : hint;
    switch (t) {
      case TType.BOOL:
        return { type: 'bool', value: p.readBool(), ...span() };
      case TType.BYTE:
        return { type: 'byte', value: p.readByte(), ...span() };
      case TType.I16:
        return { type: 'i16', value: p.readI16(), ...span() };
      case TType.I32: {
        const value = p.readI32();
        const v: DissectedValue = { type: 'i32', value, ...span() };
        const e = resolved?.kind === 'named' ? this.idl?.enums.find((x) => x.name === resolved.name) : undefined;
        if (e) {
          v.enumName = e.name;
          const m = e.values.find((x) => x.value === value);
          if (m) v.enumValue = m.name;
        }
        return v;
      }
      case TType.I64:
        return { type: 'i64', value: p.readI64(), ...span() };
      case TType.DOUBLE:
        return { type: 'double', value: p.readDouble(), ...span() };
      case TType.STRING: {
        const bytes = Buffer.from(p.readBinary());
        let value: string;
        let ok = true;
        try {
          value = utf8.decode(bytes);
        } catch {
          ok = false;
          value = bytes.toString('hex');
        }
        return { type: 'string', value, bytes, utf8: ok, ...span() };
      }
      case TType.UUID:
        return { type: 'uuid', value: String((p as unknown as { readUuid(): string }).readUuid()), ...span() };
      case TType.STRUCT: {
        const def = this.structDef(hint);
        return this.struct(def?.fields, offset, depth, def?.name);
      }
      case TType.LIST:
      case TType.SET: {
        if (depth > this.maxDepth) throw new ThriftProtocolError(`nesting deeper than ${this.maxDepth}`, { offset, code: 'ERR_THRIFT_DEPTH' });
        const h = t === TType.LIST ? p.readListBegin() : p.readSetBegin();
        const elemHint = resolved?.kind === 'list' || resolved?.kind === 'set' ? resolved.elem : undefined;
        const elements: DissectedValue[] = [];
        for (let i = 0; i < h.size; i++) elements.push(this.value(h.etype, elemHint, depth + 1));
        if (t === TType.LIST) p.readListEnd();
        else p.readSetEnd();
        return { type: t === TType.LIST ? 'list' : 'set', elemType: typeName(h.etype), elements, ...span() };
      }
      case TType.MAP: {
        if (depth > this.maxDepth) throw new ThriftProtocolError(`nesting deeper than ${this.maxDepth}`, { offset, code: 'ERR_THRIFT_DEPTH' });
        const h = p.readMapBegin();
        const kh = resolved?.kind === 'map' ? resolved.key : undefined;
        const vh = resolved?.kind === 'map' ? resolved.value : undefined;
        const entries: { key: DissectedValue; value: DissectedValue }[] = [];
        for (let i = 0; i < h.size; i++) {
          const key = this.value(h.ktype, kh, depth + 1);
          entries.push({ key, value: this.value(h.vtype, vh, depth + 1) });
        }
        p.readMapEnd();
        return { type: 'map', keyType: typeName(h.ktype), valueType: typeName(h.vtype), entries, ...span() };
      }
      default:
        throw new ThriftProtocolError(`unknown field type id ${t}`, { offset, code: 'ERR_THRIFT_BAD_TYPE' });
    }
  }
}

/** Renders a dissection as indented text, one line per field, for terminals and logs. */
export function formatThriftDissection(m: DissectedMessage): string {
  const head =
    `${m.messageType} ${m.service ? `${m.service}.` : ''}${m.method} seqid=${m.seqid}` +
    ` (${m.protocol}${m.framed ? `, framed ${m.frameLength} bytes` : ''}, ${m.length} bytes${m.trailing ? `, ${m.trailing} trailing` : ''})`;
  const lines = [head, `  ${m.structName}`];
  const render = (v: DissectedValue, indent: string, label: string): void => {
    const at = `@${v.offset}`.padEnd(6);
    switch (v.type) {
      case 'struct':
        lines.push(`${at}${indent}${label}struct${v.typeName ? ` ${v.typeName}` : ''} {`);
        for (const f of v.fields) render(f.value, `${indent}  `, `${f.id}${f.name ? ` ${f.name}` : ''}: `);
        lines.push(`${' '.repeat(6)}${indent}}`);
        return;
      case 'list':
      case 'set':
        lines.push(`${at}${indent}${label}${v.type}<${v.elemType}> (${v.elements.length})`);
        v.elements.forEach((e, i) => render(e, `${indent}  `, `[${i}] `));
        return;
      case 'map':
        lines.push(`${at}${indent}${label}map<${v.keyType}, ${v.valueType}> (${v.entries.length})`);
        for (const e of v.entries) render(e.value, `${indent}  `, `[${scalarText(e.key)}] `);
        return;
      default:
        lines.push(`${at}${indent}${label}${v.type} ${scalarText(v)}`);
    }
  };
  for (const f of m.fields) render(f.value, '    ', `${f.id}${f.name ? ` ${f.name}` : ''}: `);
  return lines.join('\n');
}

function scalarText(v: DissectedValue): string {
  switch (v.type) {
    case 'string':
      return v.utf8 ? JSON.stringify(v.value) : `0x${v.value}`;
    case 'i32':
      return v.enumValue ? `${v.value} (${v.enumName}.${v.enumValue})` : String(v.value);
    case 'struct':
    case 'list':
    case 'set':
    case 'map':
      return v.type;
    default:
      return String(v.value);
  }
}
