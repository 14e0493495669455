// The server half of gen_server's call protocol, as far as the node itself
// needs it (net_kernel's is_auth; issue 5's gen_server in Node builds on it).
// A call arrives as {'$gen_call', {From, Tag}, Request}. The reply is
// {Tag, Reply} sent to From, except that since OTP 24 Tag may be
// [alias | Alias] (or [[alias | Alias] | Rest]) and the reply then goes to
// the alias (stdlib gen.erl, reply/2).
import { Atom, ImproperList, Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';

const GEN_CALL = atom('$gen_call');
const GEN_CAST = atom('$gen_cast');
const ALIAS = atom('alias');

/** Where a gen_server reply goes. */
export interface GenFrom {
  /** The caller. */
  pid: Pid;
  /** The tag to echo back: a reference, or `[alias | Ref]` since OTP 24. */
  tag: Term;
  /** The alias to send the reply to, when the tag carries one. */
  alias: Reference | undefined;
}

/** A parsed `{'$gen_call', From, Request}`. */
export interface GenCall {
  from: GenFrom;
  request: Term;
}

/** Parses `{Pid, Tag}`; undefined when it is not one. */
export function parseFrom(t: Term): GenFrom | undefined {
  if (!(t instanceof Tuple) || t.elements.length !== 2 || !(t.elements[0] instanceof Pid)) return undefined;
  const tag = t.elements[1];
  return { pid: t.elements[0], tag, alias: aliasOf(tag) };
}

/** The alias in an `[alias | Alias]` or `[[alias | Alias] | _]` tag. */
function aliasOf(tag: Term): Reference | undefined {
  if (!(tag instanceof ImproperList)) return undefined;
  const head = tag.elements[0];
  if (head === ALIAS && tag.elements.length === 1 && tag.tail instanceof Reference) return tag.tail;
  if (head instanceof ImproperList && tag.elements.length >= 1) return aliasOf(head);
  return undefined;
}

/** Parses `{'$gen_call', {Pid, Tag}, Request}`; undefined for anything else. */
export function parseGenCall(m: Term): GenCall | undefined {
  if (!(m instanceof Tuple) || m.elements.length !== 3 || m.elements[0] !== GEN_CALL) return undefined;
  const from = parseFrom(m.elements[1]);
  return from ? { from, request: m.elements[2] } : undefined;
}

/** Parses `{'$gen_cast', Request}`; undefined for anything else. */
export function parseGenCast(m: Term): { request: Term } | undefined {
  if (!(m instanceof Tuple) || m.elements.length !== 2 || m.elements[0] !== GEN_CAST) return undefined;
  return { request: m.elements[1] };
}

/** The reply message `{Tag, Reply}` and where it goes (the alias, else the pid). */
export function genReply(from: GenFrom, reply: Term): { to: Pid | Reference; message: Tuple } {
  return { to: from.alias ?? from.pid, message: tuple(from.tag, reply) };
}

/** `{'$gen_call', {Pid, Tag}, Request}`. */
export function genCallMessage(pid: Pid, tag: Term, request: Term): Tuple {
  return tuple(GEN_CALL, tuple(pid, tag), request);
}

/** `{'$gen_cast', Request}`. */
export function genCastMessage(request: Term): Tuple {
  return tuple(GEN_CAST, request);
}

/** True when `a` is the atom named `name`. */
export function isAtom(a: Term, name: string): a is Atom {
  return a instanceof Atom && a.name === name;
}
