// The distribution transport's wire format: the chat_channel replies of
// erlang-stub/README.md ("The Erlang front door", "Terms") turned into the
// IDL's shapes, and its `{error, Reason}` into the chat errors. Requests are
// built in dist.ts; this file only reads.
import { Atom, Tuple, atom, type Term } from '../etf/types.js';
import { PollStatus, PresenceState, type ChannelEvent, type ChatMessage, type PollResult, type Presence, type SlotRange } from '../thrift/gen/chat.js';
import { ChatBadRequestError, ChatInternalError, ChatNotOnlineError, ChatUnavailableError, type ChatBadRequestReason, type ChatError } from './errors.js';
import { Moved } from './routing.js';

const OK = atom('ok');
const ERROR = atom('error');
const UNDEFINED = atom('undefined');
const K = {
  id: atom('id'),
  from: atom('from'),
  to: atom('to'),
  text: atom('text'),
  sentAt: atom('sent_at_ms'),
  clientMsgId: atom('client_msg_id'),
  seq: atom('seq'),
  type: atom('type'),
  message: atom('message'),
  typing: atom('typing'),
  active: atom('active'),
  status: atom('status'),
  events: atom('events'),
  userId: atom('user_id'),
  state: atom('state'),
  idleSeconds: atom('idle_seconds'),
  first: atom('first'),
  last: atom('last'),
  node: atom('node'),
  thriftPort: atom('thrift_port'),
};
const STATUS = new Map<Term, PollStatus>([
  [atom('events'), PollStatus.EVENTS],
  [atom('continue'), PollStatus.CONTINUE],
  [atom('refresh'), PollStatus.REFRESH],
]);
const PRESENCE = new Map<Term, PresenceState>([
  [atom('online'), PresenceState.ONLINE],
  [atom('idle'), PresenceState.IDLE],
  [atom('offline'), PresenceState.OFFLINE],
]);
const BAD_REQUEST_REASONS = new Set<string>(['text', 'text_too_long', 'client_msg_id', 'presence_ids']);

/** A reply outside the contract. */
function malformed(what: string, t: Term): ChatInternalError {
  return new ChatInternalError(`chat_channel answered ${what} with an unexpected term: ${preview(t)}`);
}

function preview(t: Term): string {
  try {
    const s = t instanceof Map ? `#{${[...t.keys()].map(String).join(',')}}` : t instanceof Tuple ? `{${t.elements.map(String).join(',')}}` : String(t);
    return s.length > 200 ? `${s.slice(0, 200)}...` : s;
  } catch {
    return typeof t;
  }
}

// A direct-mapped cache of small ids as bigints: the same users and friends
// come back call after call, and BigInt() of a number costs more than a
// lookup (friendsPresence makes 100s of them per call).
const CACHE = 4096;
const cachedKeys = new Float64Array(CACHE).fill(NaN);
const cachedBigs: bigint[] = new Array<bigint>(CACHE);

/** An integer term as bigint. */
export function big(t: Term, what: string): bigint {
  if (typeof t === 'number' && Number.isInteger(t)) {
    const h = t & (CACHE - 1);
    if (cachedKeys[h] === t) return cachedBigs[h]!;
    const b = BigInt(t);
    cachedKeys[h] = t;
    cachedBigs[h] = b;
    return b;
  }
  if (typeof t === 'bigint') return t;
  throw malformed(what, t);
}

function int(t: Term, what: string): number {
  if (typeof t === 'number' && Number.isInteger(t)) return t;
  throw malformed(what, t);
}

function str(t: Term, what: string): string {
  if (Buffer.isBuffer(t)) return t.toString('utf8');
  if (typeof t === 'string') return t;
  throw malformed(what, t);
}

function map(t: Term, what: string): Map<Term, Term> {
  if (t instanceof Map) return t;
  throw malformed(what, t);
}

function list(t: Term, what: string): Term[] {
  if (Array.isArray(t)) return t;
  throw malformed(what, t);
}

/**
 * The value of an `{ok, Value}` (or `ok`) reply, or throws the chat error of
 * an `{error, Reason}`; a wrong_partition throws {@link Moved}.
 */
export function okValue(reply: Term, what: string): Term {
  if (reply === OK) return undefined;
  if (reply instanceof Tuple && reply.elements.length === 2) {
    const [tag, v] = reply.elements;
    if (tag === OK) return v;
    if (tag === ERROR) throw errorOf(v!, what);
  }
  throw malformed(what, reply);
}

/** The error for `{error, Reason}`: a ChatError, or {@link Moved} for wrong_partition. */
export function errorOf(reason: Term, what: string): ChatError | Moved {
  if (reason instanceof Tuple && reason.elements[0] instanceof Atom) {
    const e = reason.elements;
    switch ((e[0] as Atom).name) {
      case 'wrong_partition':
        if (e.length === 4) {
          const owner = e[2] instanceof Atom && e[2] !== UNDEFINED ? e[2].name : '';
          return new Moved(big(e[1]!, what), owner, typeof e[3] === 'number' ? e[3] : 0);
        }
        break;
      case 'not_online':
        if (e.length === 2) return new ChatNotOnlineError(big(e[1]!, what));
        break;
      case 'bad_request': {
        const r = e[1] instanceof Atom && BAD_REQUEST_REASONS.has(e[1].name) ? (e[1].name as ChatBadRequestReason) : 'request';
        return new ChatBadRequestError(r, `${what}: the server refused the request (${r === 'request' ? preview(e[1]!) : r})`);
      }
      case 'unavailable':
        return new ChatUnavailableError(`${what}: the server could not serve it in time (${preview(e[1]!)})`);
      case 'internal':
        return new ChatInternalError(`${what}: the server failed (${preview(e[1]!)})`);
    }
  }
  return new ChatInternalError(`${what}: unexpected error ${preview(reason)}`);
}

/** A stored message (README "Terms": Message). */
export function toMessage(t: Term): ChatMessage {
  const m = map(t, 'a message');
  const cid = m.get(K.clientMsgId);
  // The same keys, in the same order, as the Thrift reader makes.
  return {
    id: big(m.get(K.id), 'message id'),
    fromId: big(m.get(K.from), 'message from'),
    toId: big(m.get(K.to), 'message to'),
    text: str(m.get(K.text), 'message text'),
    sentAtMs: big(m.get(K.sentAt), 'message sent_at_ms'),
    clientMsgId: cid === undefined || cid === UNDEFINED ? undefined : str(cid, 'client_msg_id'),
  };
}

/** A channel event (README "Terms": Event). */
export function toEvent(t: Term): ChannelEvent {
  const m = map(t, 'an event');
  const msg = m.get(K.message);
  const ty = m.get(K.typing);
  const tm = ty === undefined ? undefined : map(ty, 'a typing event');
  return {
    seq: big(m.get(K.seq), 'event seq'),
    message: msg === undefined ? undefined : toMessage(msg),
    typing: tm && { fromId: big(tm.get(K.from), 'typing from'), toId: big(tm.get(K.to), 'typing to'), active: tm.get(K.active) === true },
  };
}

/** A poll's answer (README "Terms": PollResult). */
export function toPollResult(t: Term): PollResult {
  const m = map(t, 'poll');
  const status = STATUS.get(m.get(K.status));
  if (status === undefined) throw malformed('poll status', m.get(K.status));
  return { status, seq: big(m.get(K.seq), 'poll seq'), events: list(m.get(K.events), 'poll events').map(toEvent) };
}

/** A presence state atom. */
export function toState(t: Term): PresenceState {
  const s = PRESENCE.get(t);
  if (s === undefined) throw malformed('presence state', t);
  return s;
}

/** friends_presence's list (README "Terms": Presence). A plain loop: this is the hot path of presence. */
export function toPresenceList(t: Term): Presence[] {
  const l = list(t, 'friends_presence');
  const out: Presence[] = new Array(l.length);
  for (let i = 0; i < l.length; i++) {
    const m = l[i];
    if (!(m instanceof Map)) throw malformed('a presence', m);
    const id = m.get(K.userId);
    const state = PRESENCE.get(m.get(K.state));
    const idle = m.get(K.idleSeconds);
    if (state === undefined || typeof idle !== 'number') throw malformed('a presence', m);
    out[i] = { userId: big(id, 'user_id'), state, idleSeconds: idle > 0x7fffffff ? 0x7fffffff : idle };
  }
  return out;
}

/** partition_map's list (README "Terms": SlotRange). */
export function toSlotRanges(t: Term): SlotRange[] {
  return list(t, 'partition_map').map((r) => {
    const m = map(r, 'a slot range');
    const node = m.get(K.node);
    if (!(node instanceof Atom)) throw malformed('slot range node', node);
    return { first: int(m.get(K.first), 'first'), last: int(m.get(K.last), 'last'), node: node.name, thriftPort: int(m.get(K.thriftPort), 'thrift_port') };
  });
}

/** A list of user ids. */
export function toIds(t: Term, what: string): bigint[] {
  return list(t, what).map((x) => big(x, what));
}

/** Iterates `#{UserId => State}`. */
export function forEachPresence(t: Term, f: (id: number | bigint, s: PresenceState) => void): void {
  for (const [k, v] of map(t, 'presence')) {
    if (typeof k !== 'number' && typeof k !== 'bigint') throw malformed('presence id', k);
    f(k, toState(v));
  }
}
