// Name clashes, the way kernel global.erl settles them when two partitions
// meet: the node whose name sorts first settles every clash by running the
// resolve method of its own registration on the node of that registration's
// pid (`rpc:call(node(Pid2), global, resolve_it, [Method2, Name, Pid, Pid2])`),
// and the outcome becomes insert/delete operations for both sides.
import { ExportFun, Fun, Pid, Tuple, atom, compareTerms, termEquals, tuple, type Term } from '../etf/index.js';
import type { LocalProcess } from '../node/index.js';
import type { Node } from './node.js';
import { RpcError } from './errors.js';
import { termKey, type NameTable } from './global-tables.js';

const GLOBAL = atom('global');
const NONE_ATOM = atom('none');
const BADRPC = atom('badrpc');
const EXIT = atom('EXIT');
const INSERT = atom('insert');
const DELETE = atom('delete');
const CONFLICT = atom('global_name_conflict');

/** What to do when a name registered from this node clashes with the same name registered elsewhere. */
export type GlobalResolver = (name: Term, other: Pid, mine: Pid) => Pid | undefined | Promise<Pid | undefined>;

/**
 * How a clash over a name is settled (global:register_name/3's Resolve):
 * - `'exit'` (default, `global:random_exit_name/3`): of the two pids, the one
 *   on the node whose name sorts last is killed (exit signal `kill`; a
 *   beambridge process ends with `killed`), the other keeps the name.
 * - `'notify'` (`global:random_notify_name/3`): that pid gets
 *   `{global_name_conflict, Name}` instead and loses the name.
 * - `'notifyAll'` (`global:notify_all_name/3`): both get
 *   `{global_name_conflict, Name, OtherPid}` and the name is unregistered.
 * - a function `(name, other, mine)`: returns the pid that keeps the name,
 *   or `undefined` to unregister it everywhere; it runs on this node.
 */
export type GlobalResolve = 'exit' | 'notify' | 'notifyAll' | GlobalResolver;

/** The resolve methods, as the funs Erlang nodes store and call. */
export const METHODS = {
  exit: new ExportFun(GLOBAL, atom('random_exit_name'), 3),
  notify: new ExportFun(GLOBAL, atom('random_notify_name'), 3),
  notifyAll: new ExportFun(GLOBAL, atom('notify_all_name'), 3),
  /** A JS resolver: only ever called on this node (the node of the pid it was registered with). */
  js: new ExportFun(atom('beambridge'), atom('js_resolver'), 3),
} as const;

/** The method term for a registration, and the JS function to keep when there is one. */
export function methodFor(r: GlobalResolve | undefined): { method: Term; fn?: GlobalResolver } {
  if (typeof r === 'function') return { method: METHODS.js, fn: r };
  return { method: METHODS[r ?? 'exit'] };
}

/** What resolution needs from the global server. */
export interface ResolveContext {
  node: Node;
  names: NameTable;
  /** The process that sends conflict notifications. */
  sender: LocalProcess;
  /** JS resolvers of names registered from this node, by name key. */
  jsResolvers: Map<string, { pid: Pid; fn: GlobalResolver }>;
  /** The nodes global knows: where a method only Erlang can run is tried. */
  erlangPeers(): string[];
}

function isFun(m: Term, f: ExportFun): boolean {
  return m instanceof ExportFun && m.module === f.module && m.function === f.function && m.arity === f.arity;
}

/** global.erl's minmax: the pid whose node name sorts first, then the other. */
function minmax(a: Pid, b: Pid): [Pid, Pid] {
  return compareTerms(a.node, b.node) < 0 ? [a, b] : [b, a];
}

/**
 * `global:resolve_it(Method, Name, Pid1, Pid2)` on this node: the three
 * methods of module global and JS resolvers run here; any other fun (an
 * Erlang fun, e.g. the default of a `global:register_name/2` made on an
 * Erlang node for one of our pids) runs on an Erlang node of the cluster,
 * which is where Erlang code can run. Returns what the method returned,
 * `{'EXIT', Reason}` when it failed (as `catch Method(...)` would).
 */
export async function resolveIt(ctx: ResolveContext, method: Term, name: Term, pid1: Pid, pid2: Pid): Promise<Term> {
  if (isFun(method, METHODS.exit)) {
    const [min, max] = minmax(pid1, pid2);
    ctx.node.exit(max, atom('kill'));
    return min;
  }
  if (isFun(method, METHODS.notify)) {
    const [min, max] = minmax(pid1, pid2);
    ctx.sender.send(max, tuple(CONFLICT, name));
    return min;
  }
  if (isFun(method, METHODS.notifyAll)) {
    ctx.sender.send(pid1, tuple(CONFLICT, name, pid2));
    ctx.sender.send(pid2, tuple(CONFLICT, name, pid1));
    return NONE_ATOM;
  }
  if (isFun(method, METHODS.js)) {
    const r = ctx.jsResolvers.get(termKey(name));
    if (!r) return resolveIt(ctx, METHODS.exit, name, pid1, pid2);
    try {
      return (await r.fn(name, pid1, pid2)) ?? NONE_ATOM;
    } catch (e) {
      return tuple(EXIT, tuple(atom('js_error'), Buffer.from(String((e as Error)?.message ?? e))));
    }
  }
  // An Erlang fun: run it where its code is (its creator's node), else next to the other pid, else on any
  // peer. erlang:apply/2 rather than global:resolve_it/4, so that a beambridge peer answers undef (and the
  // next is tried) instead of passing it on again.
  const peers = ctx.erlangPeers();
  const prefer = [method instanceof Fun ? method.pid.node.name : undefined, pid1.node.name, pid2.node.name, ...peers];
  const targets = [...new Set(prefer)].filter((n): n is string => n !== undefined && n !== ctx.node.name && peers.includes(n));
  for (const target of targets) {
    try {
      return await ctx.node.rpc(target, 'erlang', 'apply', [method, [name, pid1, pid2]], { timeoutMs: 30_000 });
    } catch (e) {
      const undef = e instanceof RpcError && e.exitReason instanceof Tuple && e.exitReason.elements[0] === atom('undef');
      if (!undef) return tuple(EXIT, e instanceof RpcError ? (e.exitReason ?? e.reason) : atom('error'));
    }
  }
  return tuple(EXIT, atom('no_erlang_node'));
}

/** rpc:call(Node, global, resolve_it, Args) as the resolver makes it: `{badrpc, Reason}` on failure. */
async function callResolve(ctx: ResolveContext, where: string, method: Term, name: Term, pid1: Pid, pid2: Pid): Promise<Term> {
  if (where === ctx.node.name) return resolveIt(ctx, method, name, pid1, pid2);
  try {
    return await ctx.node.rpc(where, GLOBAL, 'resolve_it', [method, name, pid1, pid2], { timeoutMs: 30_000 });
  } catch (e) {
    return tuple(BADRPC, e instanceof RpcError ? e.reason : atom('error'));
  }
}

/**
 * The names `peer` sent (`[{Name, Pid, Method}]`) against ours: the
 * operations for us (`ops`) and those for the other side (`resolved`), as
 * `{insert, {Name, Pid, Method}}` and `{delete, Name}`. Clashes are settled
 * here only when our node name sorts before the peer's; otherwise the peer
 * settles them and we take its answer.
 */
export async function exchangeNames(ctx: ResolveContext, list: Term, peer: string): Promise<{ ops: Term[]; resolved: Term[] }> {
  const ops: Term[] = [];
  const resolved: Term[] = [];
  const weResolve = compareTerms(atom(ctx.node.name), atom(peer)) < 0;
  for (const item of Array.isArray(list) ? list : []) {
    if (!(item instanceof Tuple) || item.elements.length !== 3 || !(item.elements[1] instanceof Pid)) continue;
    const [name, pid] = item.elements as [Term, Pid];
    const mine = ctx.names.get(name);
    if (mine && termEquals(mine.pid, pid)) continue;
    if (!mine) {
      ops.unshift(tuple(INSERT, item));
      continue;
    }
    if (!weResolve) continue;
    const r = await callResolve(ctx, mine.pid.node.name, mine.method, name, pid, mine.pid);
    if (r instanceof Pid && termEquals(r, pid)) ops.unshift(tuple(INSERT, item));
    else if (r instanceof Pid && termEquals(r, mine.pid)) resolved.unshift(tuple(INSERT, tuple(name, mine.pid, mine.method)));
    else if (r instanceof Tuple && r.elements[0] === BADRPC) ops.unshift(tuple(INSERT, item));
    else {
      ops.unshift(tuple(DELETE, name));
      resolved.unshift(tuple(DELETE, name));
    }
  }
  return { ops, resolved };
}

/** The `{insert, {Name, Pid, Method}}` and `{delete, Name}` operations of a list. */
export function parseOps(ops: Term): { inserts: [Term, Pid, Term][]; deletes: Term[] } {
  const inserts: [Term, Pid, Term][] = [];
  const deletes: Term[] = [];
  for (const op of Array.isArray(ops) ? ops : []) {
    if (!(op instanceof Tuple) || op.elements.length !== 2) continue;
    const [kind, arg] = op.elements;
    if (kind === INSERT && arg instanceof Tuple && arg.elements.length === 3 && arg.elements[1] instanceof Pid) inserts.push(arg.elements as [Term, Pid, Term]);
    else if (kind === DELETE) deletes.push(arg);
  }
  return { inserts, deletes };
}
