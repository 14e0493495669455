// Erlang processes driven from the tests. A puppet is an Erlang process on
// an erl node started with PEER_EVAL (test/node/peer.ts, test/erl/bb_peer.erl): it evaluates the
// source it is sent in itself (`Self` is bound to its pid), so the links,
// monitors, exits and sends in that source are its own, and it logs every
// other message it receives ({'EXIT', ...}, {'DOWN', ...}, plain messages)
// for the test to read.
import { Pid, Tuple, atom, formatTerm, termEquals, tuple, type Term } from '../../src/etf/index.js';
import type { LocalProcess, NodeCore } from '../../src/node/index.js';
import { isTuple } from '../node/peer.js';
import { pollFor } from '../helpers/until.js';

export class Puppet {
  /** Messages read from the puppet's log so far and not taken by `waitFor`. */
  private seen: Term[] = [];

  private constructor(
    private readonly node: NodeCore,
    private readonly me: LocalProcess,
    readonly pid: Pid,
  ) {}

  /** Spawns a puppet on `erl` (trapping exits when `trapExit`). `me` receives the answers. */
  static async spawn(node: NodeCore, me: LocalProcess, erl: string, o: { trapExit?: boolean } = {}): Promise<Puppet> {
    const ref = node.makeRef();
    me.send({ name: 'peer', node: erl }, tuple(me.pid, ref, atom('puppet'), o.trapExit ?? false));
    const m = (await me.receive({ timeoutMs: 20_000, match: (x) => isTuple(x, 'puppet_pid', 3) && termEquals(x.at(1), ref) })) as Tuple;
    return new Puppet(node, me, m.at(2) as Pid);
  }

  /** Evaluates `src` (Erlang expressions ending with a dot) in the puppet; rejects if it raised. */
  async do(src: string, bindings: Record<string, Term> = {}, timeoutMs = 20_000): Promise<Term> {
    const r = await this.ask(atom('puppet_do'), [src, Object.entries(bindings).map(([k, v]) => tuple(atom(k), v))], timeoutMs);
    if (!(r instanceof Tuple) || r.at(0) !== atom('ok')) throw new Error(`puppet eval of ${src} failed: ${formatTerm(r)}`);
    return r.at(1);
  }

  /** Sends `src` to be evaluated without waiting for an answer (for source that ends the puppet). */
  fire(src: string, bindings: Record<string, Term> = {}): void {
    this.me.send(this.pid, tuple(atom('puppet_do'), this.me.pid, this.node.makeRef(), src, Object.entries(bindings).map(([k, v]) => tuple(atom(k), v))));
  }

  /** Ends the puppet with `reason` (an exit signal to itself) and resolves with the reason its monitor saw. */
  async kill(reason: Term): Promise<Term> {
    const ref = this.me.monitor(this.pid);
    this.fire('exit(Self, R).', { R: reason });
    const m = (await this.me.receive({ timeoutMs: 20_000, match: (x) => isTuple(x, 'DOWN', 5) && termEquals(x.at(1), ref) })) as Tuple;
    return m.at(4);
  }

  /** Messages the puppet received since the last call (in order). */
  async log(timeoutMs = 20_000): Promise<Term[]> {
    const r = (await this.ask(atom('puppet_log'), [], timeoutMs)) as Tuple;
    this.seen.push(...(r.at(1) as Term[]));
    const out = this.seen;
    this.seen = [];
    return out;
  }

  /** Waits until the puppet has received a message matching `pred` (polling its log); resolves with it. */
  waitFor(pred: (m: Term) => boolean, timeoutMs = 20_000): Promise<Term> {
    const what = () => `puppet ${this.pid} got no matching message (log: ${this.seen.map((m) => formatTerm(m)).join(', ')})`;
    return pollFor(
      what,
      async () => {
        const r = (await this.ask(atom('puppet_log'), [], timeoutMs)) as Tuple;
        this.seen.push(...(r.at(1) as Term[]));
        const i = this.seen.findIndex(pred);
        return i >= 0 ? this.seen.splice(i, 1)[0] : undefined;
      },
      timeoutMs,
      50,
    );
  }

  private async ask(op: Term, extra: Term[], timeoutMs: number): Promise<Term> {
    const ref = this.node.makeRef();
    this.me.send(this.pid, tuple(op, this.me.pid, ref, ...extra));
    const m = (await this.me.receive({ timeoutMs, match: (x) => isTuple(x, 'puppet', 3) && termEquals(x.at(1), ref) })) as Tuple;
    return m.at(2);
  }
}

/** `{'EXIT', From, Reason}` from `from` (any reason when omitted). */
export function isExit(m: Term, from?: Pid, reason?: Term): boolean {
  return isTuple(m, 'EXIT', 3) && (from === undefined || termEquals(m.at(1), from)) && (reason === undefined || termEquals(m.at(2), reason));
}
