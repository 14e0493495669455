// Functions a Node exposes to Erlang as `Module:Function(Args...)`, and how
// their outcome becomes what rpc and erpc return. The outcome follows kernel
// erpc.erl (execute_call/4): a value, a throw, an exit, or an error with a
// stack trimmed to the called function. A JS error is the Erlang error
// `{js_error, <<"message">>}`; an ErlangException raises what it carries.
import { Atom, Pid, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { encode } from '../etf/index.js';
import type { NodeCore } from '../node/index.js';
import { ErlangException } from './errors.js';

const UNDEF = atom('undef');
const JS_ERROR = atom('js_error');
const BADRPC = atom('badrpc');
const EXIT = atom('EXIT');
const FILE = atom('file');
const LINE = atom('line');

/** What an exposed function sees as `this`. */
export interface RpcContext {
  /** The node running the call. */
  node: NodeCore;
  /** The Erlang process that asked (the rpc caller, or the erpc parent). */
  caller: Pid;
  module: string;
  function: string;
  /**
   * Fires when the process running the call is killed by an exit signal
   * (erpc, spawn; rex calls have no process of their own). erpc itself does
   * not kill it on a timeout: it only drops its monitor.
   */
  signal: AbortSignal;
}

/**
 * A function callable from Erlang: gets the Erlang arguments as terms and
 * returns a term, or a promise of one. Arity is not checked: extra Erlang
 * arguments are extra JS arguments, missing ones are `undefined`.
 */
export type ExposedFunction = (this: RpcContext, ...args: Term[]) => Term | Promise<Term>;

/** A module exposed to Erlang: function name -> implementation. */
export type ExposedModule = Record<string, ExposedFunction>;

/** How a call ended (erpc's four outcomes). */
export type Outcome =
  | { kind: 'return'; value: Term }
  | { kind: 'throw'; value: Term }
  | { kind: 'exit'; reason: Term }
  | { kind: 'error'; reason: Term; stack: Term[] };

/** The modules exposed by a node. */
export class ExposedModules {
  private readonly modules = new Map<string, ExposedModule>();

  /** `filePaths`: stack locations sent to Erlang carry full file paths (default: the file's name only). */
  constructor(private readonly o: { filePaths?: boolean } = {}) {}

  /** Exposes (or replaces) `module`. */
  set(module: string, functions: ExposedModule): void {
    this.modules.set(module, { ...functions });
  }

  /** Removes `module`; true if it was exposed. */
  delete(module: string): boolean {
    return this.modules.delete(module);
  }

  /** Exposed module names. */
  names(): string[] {
    return [...this.modules.keys()];
  }

  /** The implementation of `m:f`, if exposed. */
  lookup(m: Term, f: Term): ExposedFunction | undefined {
    if (!(m instanceof Atom) || !(f instanceof Atom)) return undefined;
    const mod = this.modules.get(m.name);
    const fn = mod && Object.prototype.hasOwnProperty.call(mod, f.name) ? mod[f.name] : undefined;
    return typeof fn === 'function' ? fn : undefined;
  }

  /**
   * Runs `m:f(args)` and reports its outcome. A function that is not exposed
   * is `error:undef` with the stack `[{M, F, Args, []}]`, as on an Erlang
   * node without the module; a value that cannot be encoded is an error too.
   */
  async run(m: Term, f: Term, args: Term, ctx: Omit<RpcContext, 'module' | 'function'>): Promise<Outcome> {
    const argv = Array.isArray(args) ? args : [];
    const fn = Array.isArray(args) ? this.lookup(m, f) : undefined;
    if (!fn) return { kind: 'error', reason: UNDEF, stack: [tuple(m, f, args, [])] };
    const mod = (m as Atom).name;
    const fun = (f as Atom).name;
    try {
      const value = await fn.apply({ ...ctx, module: mod, function: fun }, argv);
      try {
        encode(value);
      } catch (e) {
        return jsError(e, m, f, argv.length, this.o.filePaths ?? false, `${mod}:${fun} returned a value that has no Erlang term`);
      }
      return { kind: 'return', value };
    } catch (e) {
      return outcomeOf(e, m, f, argv.length, this.o.filePaths ?? false);
    }
  }
}

/** The outcome of a thrown JS value (`filePaths`: keep the full path of the file in the stack location). */
export function outcomeOf(e: unknown, m: Term, f: Term, arity: number, filePaths = false): Outcome {
  if (e instanceof ErlangException) {
    if (e.errorClass === 'throw') return { kind: 'throw', value: e.reason };
    if (e.errorClass === 'exit') return { kind: 'exit', reason: e.reason };
    return { kind: 'error', reason: e.reason, stack: e.erlangStack ?? [tuple(m, f, arity, [])] };
  }
  return jsError(e, m, f, arity, filePaths);
}

function jsError(e: unknown, m: Term, f: Term, arity: number, filePaths: boolean, prefix?: string): Outcome {
  const msg = e instanceof Error ? e.message : String(e);
  return { kind: 'error', reason: jsErrorReason(prefix ? `${prefix}: ${msg}` : msg), stack: [tuple(m, f, arity, jsLocation(e, filePaths))] };
}

/** `{js_error, <<"message">>}`: the Erlang reason of a JS error. */
export function jsErrorReason(message: string): Tuple {
  return tuple(JS_ERROR, Buffer.from(message, 'utf8'));
}

/** The Erlang exit reason of an error thrown in a process (gen_server handlers). */
export function exitReasonOf(e: unknown): Term {
  if (e instanceof ErlangException) {
    if (e.errorClass === 'exit') return e.reason;
    if (e.errorClass === 'throw') return tuple(tuple(atom('nocatch'), e.reason), e.erlangStack ?? []);
    return tuple(e.reason, e.erlangStack ?? []);
  }
  return jsErrorReason(e instanceof Error ? e.message : String(e));
}

/**
 * `[{file, "x.js"}, {line, N}]` from the top frame of a JS stack, as Erlang
 * stack locations read. Only the file's name unless `fullPath`: a stack sent
 * to another node must not tell it where this service lives on disk.
 */
function jsLocation(e: unknown, fullPath: boolean): Term[] {
  const stack = e instanceof Error && typeof e.stack === 'string' ? e.stack : '';
  const m = /\n\s+at (?:.*?\()?(.+?):(\d+):\d+\)?/.exec(stack);
  if (!m) return [];
  const path = m[1].replace(/^file:\/\//, '');
  const file = fullPath ? path : path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
  // Erlang's file location is a string: a list of code points.
  return [tuple(FILE, [...file].map((c) => c.codePointAt(0)!)), tuple(LINE, Number(m[2]))];
}

/** rpc's result for an outcome (kernel rpc.erl, execute_call/3): a throw is a value; exits and errors are badrpc. */
export function rpcValue(o: Outcome): Term {
  switch (o.kind) {
    case 'return':
    case 'throw':
      return o.value;
    case 'exit':
      return tuple(BADRPC, tuple(EXIT, o.reason));
    case 'error':
      return tuple(BADRPC, tuple(EXIT, tuple(o.reason, o.stack)));
  }
}

/** The exit reason of an erpc:execute_call/4 process, which erpc:call turns back into the outcome. */
export function erpcExitReason(res: Term, o: Outcome): Tuple {
  switch (o.kind) {
    case 'return':
      return tuple(res, atom('return'), o.value);
    case 'throw':
      return tuple(res, atom('throw'), o.value);
    case 'exit':
      return tuple(res, atom('exit'), o.reason);
    case 'error':
      return tuple(res, atom('error'), o.reason, o.stack);
  }
}
