// The process tables of a node: pid -> process, registered name -> process,
// alias -> process. Also makes this node's pids and references. No I/O: the
// node (node.ts) owns the connections, signals.ts the links and monitors.
import { randomBytes } from 'node:crypto';
import { Atom, Pid, Reference } from '../etf/types.js';
import { NodeError } from './errors.js';
import { refKey, type LocalProcess } from './process.js';

/** The process tables of one node incarnation (`nodeAtom`, `creation`). */
export class Registry {
  private readonly procs = new Map<number, LocalProcess>();
  private readonly names = new Map<string, LocalProcess>();
  private readonly aliasTable = new Map<string, LocalProcess>();
  private nextId = 0;
  private nextSerial = 0;
  private refCount = 0;
  private readonly refSalt = randomBytes(4).readUInt32BE(0);

  constructor(
    readonly nodeAtom: Atom,
    readonly creation: number,
  ) {}

  /** Live processes. */
  get size(): number {
    return this.procs.size;
  }

  /** Every live process. */
  all(): LocalProcess[] {
    return [...this.procs.values()];
  }

  /** A fresh pid: 15-bit ids and 13-bit serials, as OTP's local pids; wrapping skips live ones. */
  newPid(): Pid {
    for (;;) {
      this.nextId++;
      if (this.nextId > 0x7fff) {
        this.nextId = 1;
        this.nextSerial = (this.nextSerial + 1) & 0x1fff;
      }
      if (!this.procs.has(this.nextId * 8192 + this.nextSerial)) {
        return new Pid(this.nodeAtom, this.nextId, this.nextSerial, this.creation);
      }
    }
  }

  /** A new reference of this node (NEWER_REFERENCE_EXT, three words as OTP makes them). */
  makeRef(): Reference {
    const n = ++this.refCount;
    return new Reference(this.nodeAtom, this.creation, [n & 0x3ffff, Math.floor(n / 0x40000) >>> 0, this.refSalt]);
  }

  add(p: LocalProcess): void {
    this.procs.set(p.pid.id * 8192 + p.pid.serial, p);
  }

  /** The local process with this pid, if alive. */
  process(pid: Pid): LocalProcess | undefined {
    if (pid.node !== this.nodeAtom || pid.creation !== this.creation) return undefined;
    const p = this.procs.get(pid.id * 8192 + pid.serial);
    return p && p.pid.id === pid.id && p.pid.serial === pid.serial ? p : undefined;
  }

  /** Registers `p` under `name`; throws `ERR_NAME_TAKEN`, `ERR_PROCESS_EXITED` or `ERR_BAD_NAME`. */
  register(name: string, p: LocalProcess): void {
    checkName(name);
    if (!p.alive) throw new NodeError('ERR_PROCESS_EXITED', `cannot register ${name}: process ${p.pid} is dead`, { reason: p.reason });
    const cur = this.names.get(name);
    if (cur && cur !== p) throw new NodeError('ERR_NAME_TAKEN', `${name} is already registered to ${cur.pid}`);
    if (p.registeredName !== undefined && p.registeredName !== name) {
      throw new NodeError('ERR_NAME_TAKEN', `${p.pid} is already registered as ${p.registeredName}`);
    }
    this.names.set(name, p);
    p.registeredName = name;
  }

  unregister(name: string): boolean {
    const p = this.names.get(name);
    if (!p) return false;
    this.names.delete(name);
    p.registeredName = undefined;
    return true;
  }

  byName(name: string): LocalProcess | undefined {
    return this.names.get(name);
  }

  registered(): string[] {
    return [...this.names.keys()];
  }

  addAlias(p: LocalProcess, ref: Reference): void {
    this.aliasTable.set(refKey(ref), p);
  }

  removeAlias(ref: Reference): void {
    this.aliasTable.delete(refKey(ref));
  }

  /** The live process an alias of this incarnation points to. */
  byAlias(alias: Reference): LocalProcess | undefined {
    if (alias.node !== this.nodeAtom || alias.creation !== this.creation) return undefined;
    return this.aliasTable.get(refKey(alias));
  }

  /** Drops a dead process from every table. */
  remove(p: LocalProcess): void {
    const key = p.pid.id * 8192 + p.pid.serial;
    if (this.procs.get(key) === p) this.procs.delete(key);
    if (p.registeredName !== undefined && this.names.get(p.registeredName) === p) this.names.delete(p.registeredName);
    p.registeredName = undefined;
    for (const k of p.aliases.keys()) this.aliasTable.delete(k);
    p.aliases.clear();
  }
}

/** Throws `ERR_BAD_NAME` for a name Erlang cannot register. */
export function checkName(name: string): void {
  if (typeof name !== 'string' || name === '' || [...name].length > 255 || name === 'undefined') {
    throw new NodeError('ERR_BAD_NAME', `invalid registered name ${JSON.stringify(name)}`);
  }
}
