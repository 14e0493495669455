// A gen_server written in JS: a registered process that speaks gen_server's
// protocol (stdlib gen_server.erl, gen.erl), so that Erlang's
// gen_server:call/cast (and Node's own node.call/cast) reach it. Calls arrive
// as {'$gen_call', {Pid, Tag}, Request} and are answered {Tag, Reply}; since
// OTP 24 Tag is [alias | Ref] and the reply goes to the alias (ALIAS_SEND).
// Casts arrive as {'$gen_cast', Request}; anything else is "info". Messages
// are handled one at a time, in order, awaiting async handlers, as a
// gen_server does; a reply can be deferred. A handler that throws ends the
// server with an exit reason its callers see; with a `restart` option the
// server is then started again under the same name, as a supervisor would
// restart it (restart type and intensity as in OTP's supervisor).
import { Pid, Reference, Tuple, atom, tuple, type Term } from '../etf/types.js';
import { isAtom, parseFrom, parseGenCall, parseGenCast, refKey, type GenFrom, type LocalProcess, type NodeCore } from '../node/index.js';
import { exitReasonOf } from './exposed.js';
import { safeFormat } from './errors.js';

const NORMAL = atom('normal');
const SHUTDOWN = atom('shutdown');
const OK = atom('ok');
const BAD_CALL = atom('bad_call');
const STOP = atom('$beambridge_stop');

/** Returned by a `call` handler that will answer later through `from.reply(...)`. */
export const noReply: unique symbol = Symbol('noReply');

/**
 * The caller of a gen_server call: reply once with {@link reply} (or
 * `node.reply(from, value)`). Replying twice sends twice; the caller takes
 * the first.
 */
export class CallFrom implements GenFrom {
  readonly pid: Pid;
  readonly tag: Term;
  readonly alias: Reference | undefined;

  /** @internal */
  constructor(
    private readonly node: NodeCore,
    from: GenFrom,
    private readonly server: LocalProcess,
  ) {
    this.pid = from.pid;
    this.tag = from.tag;
    this.alias = from.alias;
  }

  /** Sends the reply (gen_server:reply/2): to the caller's alias when its tag has one, else to its pid. */
  reply(value: Term): void {
    this.node.replyTo(this, value, this.server);
  }
}

/**
 * The callbacks of a server. Each may be async; the next message waits for
 * it. A handler that throws ends the server: an `ErlangException` with the
 * reason it carries (see there), any other error with `{js_error,
 * <<"message">>}`; callers waiting in `gen_server:call` then exit with that
 * reason.
 */
export interface ServerHandlers {
  /**
   * A `gen_server:call`: return the reply (or a promise of it), or return
   * {@link noReply} and answer later with `from.reply(value)`. Without this
   * handler a call ends the server with `{bad_call, Request}`.
   */
  call?(request: Term, from: CallFrom): Term | typeof noReply | Promise<Term | typeof noReply>;
  /** A `gen_server:cast`. Ignored when absent. */
  cast?(request: Term): unknown;
  /** Any other message (with `trapExit`, `{'EXIT', From, Reason}` too). Ignored when absent. */
  info?(message: Term): unknown;
  /** Called once when the server stops by itself (a handler threw, `stop`, or `sys:terminate`), before its process exits. */
  terminate?(reason: Term): unknown;
  /**
   * Called when the server's process starts, and again on every restart,
   * before the first message is handled (the place to reset state kept in
   * the handlers). A throw ends that process as a handler's throw does.
   */
  init?(): unknown;
}

/**
 * When a server whose process ended by itself (a handler threw, an exit
 * signal, `sys:terminate`) is started again, as OTP's supervisor restart
 * types: `permanent` always, `transient` unless it ended normally (`normal`,
 * `shutdown` or `{shutdown, _}`), `temporary` never.
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** Options of `node.serve`. */
export interface ServeOptions {
  /** Exit signals become `info` messages instead of ending the server. */
  trapExit?: boolean;
  /**
   * Restart the server when its process ends by itself (see
   * {@link RestartType}); default `temporary` (it stays down, as an
   * unsupervised gen_server). A restart is a new process, with a new pid,
   * registered under the same name and running the same handlers (`init`
   * runs again). The ended process is still seen as OTP sees it: its callers
   * get its exit reason, its links and monitors fire. `stop()` and the node
   * stopping never restart it.
   */
  restart?: RestartType;
  /**
   * Most restarts within `periodMs` (a supervisor's intensity); when one
   * more would be needed the server stays down (the `exited` promise
   * resolves with the last reason). Default 1, as OTP's supervisor.
   */
  intensity?: number;
  /** The window of `intensity`, in ms; default 5000, as OTP's 5 s. */
  periodMs?: number;
  /** The mailbox bound of the server's process (see `SpawnOptions.mailboxLimit`). */
  mailboxLimit?: number;
}

/** A running server (see `node.serve`). */
export class GenServer {
  /**
   * Resolves with the exit reason once the server has ended for good: after
   * `stop()`, or when its process ended and no restart followed.
   */
  readonly exited: Promise<Term>;
  /** Restarts so far (see {@link ServeOptions.restart}). */
  restarts = 0;
  private current: LocalProcess;
  private readonly stopRef: Reference;
  private stopping = false;
  private readonly restartTimes: number[] = [];

  /** @internal Use `node.serve`. */
  constructor(
    private readonly node: NodeCore,
    private readonly regName: string | undefined,
    private readonly handlers: ServerHandlers,
    private readonly o: ServeOptions = {},
  ) {
    this.current = this.start();
    this.stopRef = node.makeRef();
    this.exited = this.supervise();
  }

  /** The server's current process (its pid is what Erlang sees; a restart makes a new one). */
  get process(): LocalProcess {
    return this.current;
  }

  get pid(): Pid {
    return this.current.pid;
  }

  /** The registered name, while alive. */
  get name(): string | undefined {
    return this.current.name;
  }

  /**
   * Stops the server after the messages already queued (gen_server:stop):
   * `terminate` runs, then the process exits with `reason` (default
   * `normal`), and it is not restarted. Resolves with the exit reason.
   */
  stop(reason: Term = NORMAL): Promise<Term> {
    this.stopping = true;
    this.current.deliver(tuple(STOP, this.stopRef, typeof reason === 'string' ? atom(reason) : reason));
    return this.exited;
  }

  private start(): LocalProcess {
    return this.node.spawn({ name: this.regName, trapExit: this.o.trapExit, mailboxLimit: this.o.mailboxLimit });
  }

  /** Runs the server's process, and its successors while the restart policy asks for them. */
  private async supervise(): Promise<Term> {
    const log = this.node.logger;
    const who = () => `gen_server ${this.regName ?? String(this.current.pid)}`;
    for (;;) {
      const reason = await loop(this.node, this.current, this.handlers, this.stopRef);
      if (this.stopping || this.node.stopped) return reason;
      const normal = isNormalExit(reason);
      if (!normal) log.error(`${who()} terminated: ${safeFormat(reason, 300)}`, { pid: String(this.current.pid), name: this.regName });
      const type = this.o.restart ?? 'temporary';
      if (type === 'temporary' || (type === 'transient' && normal)) return reason;
      const now = Date.now();
      const period = this.o.periodMs ?? 5000;
      while (this.restartTimes.length > 0 && now - this.restartTimes[0] > period) this.restartTimes.shift();
      if (this.restartTimes.length >= (this.o.intensity ?? 1)) {
        log.error(`${who()} reached its restart intensity (${this.o.intensity ?? 1} in ${period} ms) and stays down`, { name: this.regName });
        return reason;
      }
      try {
        this.current = this.start();
      } catch (e) {
        log.error(`${who()} could not be restarted: ${(e as Error).message}`, { name: this.regName });
        return reason;
      }
      this.restartTimes.push(now);
      this.restarts++;
      log.warn(`${who()} restarted as ${this.current.pid}`, { pid: String(this.current.pid), name: this.regName, restarts: this.restarts });
    }
  }
}

/** `normal`, `shutdown` or `{shutdown, _}`: an exit a transient server is not restarted for. */
function isNormalExit(r: Term): boolean {
  return r === NORMAL || r === SHUTDOWN || (r instanceof Tuple && r.elements.length === 2 && r.elements[0] === SHUTDOWN);
}

function isStop(m: Term, ref: Reference): m is Tuple {
  return m instanceof Tuple && m.elements.length === 3 && m.elements[0] === STOP && m.elements[1] instanceof Reference && refKey(m.elements[1]) === refKey(ref);
}

/** `{system, From, {terminate, Reason}}` (sys:terminate, gen_server:stop from Erlang). */
function systemTerminate(m: Term): { from: GenFrom; reason: Term } | undefined {
  if (!(m instanceof Tuple) || m.elements.length !== 3 || !isAtom(m.elements[0], 'system')) return undefined;
  const from = parseFrom(m.elements[1]);
  const req = m.elements[2];
  if (!from || !(req instanceof Tuple) || req.elements.length !== 2 || !isAtom(req.elements[0], 'terminate')) return undefined;
  return { from, reason: req.elements[1] };
}

async function loop(node: NodeCore, p: LocalProcess, h: ServerHandlers, stopRef: Reference): Promise<Term> {
  let reason: Term | undefined;
  try {
    await h.init?.();
    for await (const m of p) {
      const call = parseGenCall(m);
      if (call) {
        if (!h.call) throw new BadCall(call.request);
        const from = new CallFrom(node, call.from, p);
        // A synchronous handler's reply goes out without a microtask hop.
        let r = h.call(call.request, from);
        if (r instanceof Promise) r = await r;
        if (!p.alive) break;
        if (r !== noReply) from.reply(r);
        continue;
      }
      const cast = parseGenCast(m);
      if (cast) {
        await h.cast?.(cast.request);
      } else if (isStop(m, stopRef)) {
        reason = m.elements[2];
        break;
      } else {
        const sys = systemTerminate(m);
        if (sys) {
          reason = sys.reason;
          await terminate(h, reason);
          node.replyTo(sys.from, OK, p);
          p.exit(reason);
          return reason;
        }
        await h.info?.(m);
      }
      if (!p.alive) break;
    }
  } catch (e) {
    // Killed by an exit signal (or the node stopping): no terminate, as gen_server without trap_exit.
    if (!p.alive) return p.reason ?? NORMAL;
    reason = e instanceof BadCall ? tuple(BAD_CALL, e.request) : exitReasonOf(e);
  }
  if (!p.alive) return p.reason ?? NORMAL;
  reason ??= NORMAL;
  await terminate(h, reason);
  p.exit(reason);
  return reason;
}

async function terminate(h: ServerHandlers, reason: Term): Promise<void> {
  try {
    await h.terminate?.(reason);
  } catch {
    /* the server is ending with `reason` anyway */
  }
}

class BadCall extends Error {
  constructor(readonly request: Term) {
    super('no call handler');
  }
}
