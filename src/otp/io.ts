// A group leader for the rpc calls this node makes: a minimal io server
// (Erlang's "The Erlang I/O Protocol", stdlib io_protocol). The remote
// function's output (io:format and friends) comes here as io requests and is
// answered like a terminal without input: output is accepted (and handed to
// `onOutput`), input requests get eof. Without an answer the remote
// function would wait forever.
import { Atom, ImproperList, Pid, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { formatTerm } from '../etf/index.js';
import { isAtom, type LocalProcess, type NodeCore } from '../node/index.js';

const IO_REQUEST = atom('io_request');
const IO_REPLY = atom('io_reply');
const OK = atom('ok');
const EOF_ = atom('eof');
const ERROR = atom('error');
const ENOTSUP = atom('enotsup');
const REQUEST = atom('request');

/** Receives the text of every put_chars request. */
export type OutputHandler = (text: string) => void;

/** Spawns the io server process (unregistered) and returns it. */
export function startIoServer(node: NodeCore, onOutput: OutputHandler | undefined): LocalProcess {
  const p = node.spawn();
  void (async () => {
    for await (const m of p) {
      if (!(m instanceof Tuple) || m.elements.length !== 4 || m.elements[0] !== IO_REQUEST) continue;
      const [, from, replyAs, req] = m.elements;
      if (!(from instanceof Pid)) continue;
      let reply: Term;
      try {
        reply = handle(req, onOutput);
      } catch {
        reply = tuple(ERROR, REQUEST);
      }
      node.post(p, from, tuple(IO_REPLY, replyAs, reply));
    }
  })().catch(() => {});
  return p;
}

function handle(req: Term, out: OutputHandler | undefined): Term {
  if (isAtom(req, 'getopts')) return [];
  if (!(req instanceof Tuple)) return tuple(ERROR, REQUEST);
  const [op, ...args] = req.elements;
  if (!(op instanceof Atom)) return tuple(ERROR, REQUEST);
  switch (op.name) {
    case 'put_chars':
      // {put_chars, Enc, Chars} | {put_chars, Chars} | {put_chars, Enc, M, F, A} | {put_chars, M, F, A}
      if (args.length === 1 || args.length === 2) out?.(chars(args[args.length - 1]));
      else if (args.length === 3 || args.length === 4) out?.(applyFormat(args.slice(-3)));
      else return tuple(ERROR, REQUEST);
      return OK;
    case 'requests': {
      let last: Term = OK;
      for (const r of Array.isArray(args[0]) ? args[0] : []) {
        last = handle(r, out);
        if (last instanceof Tuple && last.elements[0] === ERROR) break;
      }
      return last;
    }
    case 'get_chars':
    case 'get_line':
    case 'get_until':
    case 'get_password':
      return EOF_;
    case 'setopts':
      return OK;
    case 'get_geometry':
      return tuple(ERROR, ENOTSUP);
    default:
      return tuple(ERROR, REQUEST);
  }
}

/** Erlang chardata (binary, or a possibly deep list of code points and binaries) as a string. */
export function chars(t: Term): string {
  if (Buffer.isBuffer(t)) return t.toString('utf8');
  if (typeof t === 'number') return String.fromCodePoint(t);
  if (Array.isArray(t)) return t.map(chars).join('');
  if (t instanceof ImproperList) return t.elements.map(chars).join('') + chars(t.tail);
  if (t instanceof Atom) return t.name;
  return formatTerm(t);
}

/** Renders {M, F, A} output: io_lib:format's common directives, else the arguments as terms. */
function applyFormat([m, f, a]: Term[]): string {
  if (isAtom(m, 'io_lib') && isAtom(f, 'format') && Array.isArray(a) && a.length === 2 && Array.isArray(a[1])) {
    return formatLite(chars(a[0]), a[1]);
  }
  return `${formatTerm(m)}:${formatTerm(f)}(${Array.isArray(a) ? a.map((x) => formatTerm(x)).join(', ') : ''})`;
}

/** ~n ~~ ~s ~p ~w ~b ~c and friends, enough to read rpc output; widths and padding are ignored. */
function formatLite(fmt: string, args: Term[]): string {
  let i = 0;
  return fmt.replace(/~[-0-9.*]*[tl]?([a-zA-Z~])/g, (_d, c: string) => {
    if (c === 'n') return '\n';
    if (c === '~') return '~';
    const v = args[i++];
    if (v === undefined) return '';
    if (c === 's') return chars(v);
    if (c === 'c') return typeof v === 'number' ? String.fromCodePoint(v) : chars(v);
    if (c === 'p' || c === 'P') return formatTerm(v, { strings: true });
    return formatTerm(v);
  });
}
