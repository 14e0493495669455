// A cluster for the global tests: erl nodes with test/erl/global_peer.erl
// loaded, driven by rpc from a hidden beambridge node (hidden connections
// take no part in global, so the driver never disturbs what is measured).
import { Node } from '../../src/otp/index.js';
import { Atom, Pid, Tuple, atom, formatTerm, type Term } from '../../src/etf/index.js';
import { startErlNode, type Teardownable } from '../../src/testing/index.js';
import { erlModule } from '../helpers/erl-modules.js';

/** Starts an erl node with test/erl/global_peer.erl compiled (by that OTP's erlc) and loaded. */
export async function startGlobalErl(t: Teardownable, o: { name: string; cookie: string; epmdPort: number; root: string }): Promise<void> {
  await startErlNode(t, {
    name: o.name,
    cookie: o.cookie,
    epmdPort: o.epmdPort,
    root: o.root,
    modules: [erlModule('global_peer')],
    eval: '{module, global_peer} = code:ensure_loaded(global_peer)',
  });
}

/** rpc from the hidden driver to an erl node. */
export class Driver {
  constructor(readonly node: Node) {}

  rpc(erl: string, m: string, f: string, args: Term[] = []): Promise<Term> {
    return this.node.rpc(erl, m, f, args, { timeoutMs: 90_000 });
  }

  /** `global_peer:join(Peer)` on `erl`: connect and global:sync(); the time in ms. */
  async join(erl: string, peer: string): Promise<number> {
    const r = (await this.rpc(erl, 'global_peer', 'join', [atom(peer)])) as Tuple;
    if (r.at(0) !== atom('pong') || r.at(1) !== atom('ok')) throw new Error(`${erl} could not join ${peer}: ${formatTerm(r)}`);
    return Number(r.at(2)) / 1000;
  }

  /** global:sync() on `erl`; the time in ms. */
  async syncTime(erl: string): Promise<number> {
    const r = (await this.rpc(erl, 'global_peer', 'sync_time')) as Tuple;
    if (r.at(0) !== atom('ok')) throw new Error(`global:sync() on ${erl}: ${formatTerm(r)}`);
    return Number(r.at(1)) / 1000;
  }

  async whereis(erl: string, name: string): Promise<Pid | undefined> {
    const r = await this.rpc(erl, 'global', 'whereis_name', [atom(name)]);
    return r instanceof Pid ? r : undefined;
  }

  async names(erl: string): Promise<string[]> {
    return ((await this.rpc(erl, 'global', 'registered_names')) as Atom[]).map((a) => a.name).sort();
  }

  /** Visible nodes `erl` is connected to. */
  async nodes(erl: string): Promise<string[]> {
    return ((await this.rpc(erl, 'erlang', 'nodes')) as Atom[]).map((a) => a.name).sort();
  }

  /** Resolves once `erl`'s global holds no lock (a finished connect leaves none; its locker releases them last). */
  async quiet(erl: string): Promise<void> {
    await eventually(() => this.rpc(erl, 'ets', 'info', [atom('global_locks'), atom('size')]), (n) => n === 0, `global locks on ${erl}`);
  }

  /** Nodes global on `erl` knows. */
  async known(erl: string): Promise<string[]> {
    return ((await this.rpc(erl, 'gen_server', 'call', [atom('global_name_server'), atom('get_known')])) as Atom[]).map((a) => a.name).sort();
  }

  /** A holder process on `erl` registered as `name`: its pid and how long register_name took (ms). */
  async register(erl: string, name: string): Promise<{ yes: boolean; pid: Pid; ms: number }> {
    const r = (await this.rpc(erl, 'global_peer', 'register_time', [atom(name)])) as Tuple;
    return { yes: r.at(0) === atom('yes'), pid: r.at(1) as Pid, ms: Number(r.at(2)) / 1000 };
  }

  /** Messages a holder got (`'dead'` once it is gone). */
  async log(erl: string, holder: Pid): Promise<Term> {
    return this.rpc(erl, 'global_peer', 'holder_log', [holder]);
  }
}

/** Polls `f` until `pred` holds for its value; returns the value (throws after `timeoutMs`). */
export async function eventually<T>(f: () => Promise<T> | T, pred: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (pred(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${typeof v === 'object' ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x)) : String(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
