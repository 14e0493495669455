// `beambridge ping | rpc | send | listen`: each starts a short-lived hidden
// beambridge node (src/otp's Node) and uses its public API. The cookie is
// --cookie, or ~/.erlang.cookie as erl reads it (the Node's default).
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { formatTerm, parseTerm, termToJson, type Pid, type Term } from '../etf/index.js';
import type { ControlMessage } from '../dist/index.js';
import type { Node } from '../otp/index.js';
import { controlOpName } from '../dist/observer.js';
import { flag, int, str, type Command, type Context, type Values } from './command.js';
import { CommandFailed, UsageError } from './io.js';
import { EventLog } from './events.js';
import { showTerm } from './terms.js';

const nodeOptions = {
  cookie: { type: 'string', short: 'c', arg: 'COOKIE', description: 'the cookie (default: ~/.erlang.cookie, as erl)' },
  name: { type: 'string', short: 'n', arg: 'NAME', description: "this tool's own node name (default: a fresh one, long or short like NODE)" },
  'epmd-port': { type: 'string', arg: 'PORT', description: 'the EPMD to register with and look NODE up in (default $ERL_EPMD_PORT or 4369)' },
  timeout: { type: 'string', short: 't', arg: 'MS', description: 'give up after MS milliseconds' },
  json: { type: 'boolean', description: 'print JSON (terms in the lossless JSON form)' },
} as const;

/** A fresh node name of the same kind (long or short) as `peer`'s. */
function ownName(cmd: string, peer: string): string {
  const alive = `beambridge-${cmd}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const at = peer.indexOf('@');
  if (at < 0) return alive;
  const host = peer.slice(at + 1);
  if (isIP(host)) return `${alive}@${host}`;
  if (!host.includes('.')) return alive;
  const own = hostname();
  return `${alive}@${own.includes('.') ? own : '127.0.0.1'}`;
}

/** Starts this command's node; the caller stops it. */
async function startNode(ctx: Context, v: Values, cmd: string, peer: string, extra: { name?: string; hidden?: boolean; output?: boolean } = {}): Promise<Node> {
  const { Node } = await import('../otp/index.js');
  const port = int(v, 'epmd-port', undefined, 1, 65535);
  return Node.start({
    name: extra.name ?? str(v, 'name') ?? ownName(cmd, peer),
    cookie: str(v, 'cookie'),
    hidden: extra.hidden ?? true,
    epmd: port === undefined ? undefined : { port },
    signal: ctx.signal,
    // Floats stay floats (1.0 prints as 1.0), as everywhere in the CLI.
    lossless: true,
    // Output of the functions an rpc runs goes where erl's rpc:call sends it: to the caller's terminal.
    onOutput: extra.output ? (text) => ctx.io.stdout.write(text) : undefined,
  });
}

/** Runs `body` with a node, always stopping it. */
async function withNode<T>(ctx: Context, v: Values, cmd: string, peer: string, body: (node: Node) => Promise<T>, extra?: { output?: boolean }): Promise<T> {
  const node = await startNode(ctx, v, cmd, peer, extra);
  try {
    return await body(node);
  } finally {
    await node.stop();
  }
}

function parseArg(text: string, what: string): Term {
  try {
    return parseTerm(text);
  } catch (e) {
    throw new CommandFailed(`bad ${what}: ${(e as Error).message}`, { cause: e });
  }
}

export const ping: Command = {
  name: 'ping',
  summary: 'net_adm:ping a node: pong (exit 0) or pang (exit 1)',
  args: 'NODE',
  description: [
    'Connects to NODE as a hidden node and asks its net_kernel, as net_adm:ping/1 does.',
    'Prints pong and exits 0, or pang and exits 1, with the reason when it is known (not',
    'registered in the EPMD, wrong cookie, TLS on one side only, no answer within --timeout,',
    'default 10000 ms).',
  ].join('\n'),
  options: nodeOptions,
  examples: ['beambridge ping stub@127.0.0.1 --cookie secret', 'beambridge ping chat1 --timeout 2000'],
  positionals: { min: 1, max: 1 },
  async run(ctx, v, [peer]) {
    const started = Date.now();
    const r = await withNode(ctx, v, 'ping', peer, (node) => node.pingDetail(peer, { timeoutMs: int(v, 'timeout', 10_000, 1), signal: ctx.signal }));
    const ms = Date.now() - started;
    // Why pang, when it is known: the root cause (a wrong cookie, what the EPMD said, TLS on one side...).
    const why = r.pong ? undefined : { code: r.reason.code, message: r.reason.message };
    if (flag(v, 'json')) ctx.io.stdout.write(JSON.stringify({ node: peer, result: r.pong ? 'pong' : 'pang', ms, ...(why ? { reason: why } : {}) }) + '\n');
    else if (r.pong) ctx.io.stdout.write(`${ctx.out.paint('green', 'pong')}\n`);
    else ctx.io.stdout.write(`${ctx.out.paint('red', 'pang')} (${why!.code}: ${why!.message})\n`);
    return r.pong ? 0 : 1;
  },
};

export const rpc: Command = {
  name: 'rpc',
  summary: "call a function on a node (rpc:call) and print the result in Erlang syntax",
  args: "NODE MOD FUN ['ARGS']",
  description: [
    "Calls MOD:FUN(ARGS...) on NODE through its rex server, as rpc:call/4 does. ARGS is an",
    "Erlang list of the arguments (default []). The result prints in Erlang syntax; what",
    'the function prints (io:format) appears before it. An exception or {badrpc, Reason}',
    'is reported on stderr with exit 1. --timeout defaults to 30000 ms.',
  ].join('\n'),
  options: nodeOptions,
  examples: [
    "beambridge rpc stub@127.0.0.1 lists reverse '[[1, 2, 3]]'",
    "beambridge rpc stub@127.0.0.1 erlang system_info '[otp_release]' --json",
  ],
  positionals: { min: 3, max: 4 },
  async run(ctx, v, [peer, mod, fun, argText]) {
    const args = parseArg(argText ?? '[]', 'ARGS');
    if (!Array.isArray(args)) throw new UsageError(`ARGS must be an Erlang list such as '[1, two]', not ${argText}`);
    const json = flag(v, 'json');
    const result = await withNode(
      ctx,
      v,
      'rpc',
      peer,
      async (node) => {
        try {
          return await node.rpc(peer, mod, fun, args, { timeoutMs: int(v, 'timeout', 30_000, 1), signal: ctx.signal });
        } catch (e) {
          if (json) {
            // Scripts get the failure on stdout too: the code, and rpc's {badrpc, Reason} Reason when there is one.
            const { RpcError } = await import('../otp/index.js');
            const code = (e as { code?: string }).code ?? 'ERR_CLI_FAILED';
            const reason = e instanceof RpcError ? `,"reason":${termToJson(e.reason)}` : '';
            ctx.io.stdout.write(`{"error":${JSON.stringify(code)},"message":${JSON.stringify((e as Error).message)}${reason}}\n`);
          }
          throw e;
        }
      },
      { output: !json },
    );
    // The whole result, never clipped: as the shell prints it, pids with their node.
    ctx.io.stdout.write(json ? `{"result":${termToJson(result)}}\n` : formatTerm(result, { nodes: true, strings: true }) + '\n');
  },
};

export const send: Command = {
  name: 'send',
  summary: 'send a term to a registered process on a node',
  args: "NODE NAME 'TERM'",
  description: [
    'Sends TERM (Erlang syntax) to the process registered as NAME on NODE, as',
    "{NAME, NODE} ! TERM does, from a process of this tool's own hidden node. It waits",
    'until NODE has the message (a ping round trip on the same connection follows it),',
    'then exits 0. Like !, it cannot tell whether NAME exists. Exit 1 if NODE is unreachable.',
  ].join('\n'),
  options: nodeOptions,
  examples: ["beambridge send stub@127.0.0.1 chat_channel '{send, 1, 2, <<\"hi\">>}'"],
  positionals: { min: 3, max: 3 },
  async run(ctx, v, [peer, name, text]) {
    const term = parseArg(text, 'TERM');
    const timeoutMs = int(v, 'timeout', 10_000, 1);
    const from = await withNode(ctx, v, 'send', peer, async (node) => {
      try {
        await node.connect(peer, { timeoutMs, signal: ctx.signal });
      } catch (e) {
        throw new CommandFailed(`cannot reach ${peer}: ${(e as Error).message}`, { cause: e });
      }
      const p = node.spawn();
      p.send({ name, node: peer }, term);
      // Messages on one connection arrive in order: once the pong is back, NODE has the message.
      if (!(await node.ping(peer, { timeoutMs, signal: ctx.signal }))) throw new CommandFailed(`${peer} stopped answering after the send`);
      return p.pid;
    });
    if (flag(v, 'json')) ctx.io.stdout.write(`{"sent":true,"to":${JSON.stringify({ name, node: peer })},"from":${termToJson(from)}}\n`);
    else ctx.io.stdout.write(`sent to {${name}, '${peer}'} from ${showTerm(from)}\n`);
  },
};

export const listen: Command = {
  name: 'listen',
  summary: 'start a node and print every message its mailbox receives',
  args: '',
  description: [
    'Starts a node named --name with one process (registered as --register, if given)',
    'and prints every message that reaches its mailbox, with the sender (when the wire',
    'carries it: REG_SEND, SEND_SENDER, ALIAS_SEND) and the time, until interrupted.',
    'The first line gives the node name and the pid. Erlang reaches it with',
    "{NAME, 'node@host'} ! Msg, or with the pid.",
  ].join('\n'),
  options: {
    ...nodeOptions,
    name: { type: 'string', short: 'n', arg: 'NAME', description: 'the node name, e.g. listener@127.0.0.1 or a short name (required)' },
    register: { type: 'string', short: 'r', arg: 'NAME', description: 'register the process under NAME' },
    visible: { type: 'boolean', description: 'a visible node instead of a hidden one' },
  },
  examples: ['beambridge listen --name spy@127.0.0.1 --register inbox', "erl -name a@127.0.0.1 -eval \"{inbox, 'spy@127.0.0.1'} ! hello.\""],
  positionals: { min: 0, max: 0 },
  async run(ctx, v) {
    const name = str(v, 'name');
    if (!name) throw new UsageError('--name is required');
    const register = str(v, 'register');
    const json = flag(v, 'json');
    const node = await startNode(ctx, v, 'listen', name, { name, hidden: !flag(v, 'visible') });
    const { pidKey } = await import('../node/index.js');
    let count = 0;
    let stopped = false;
    const log = new EventLog(ctx, json, () => (stopped ? undefined : `${node.name}: ${count} message${count === 1 ? '' : 's'}; Ctrl-C stops`));
    try {
      const p = node.spawn(register ? { name: register } : {});
      const me = pidKey(p.pid);
      // Who sent each message: the control message carries it; the mailbox keeps only the term.
      const senders: { from: Pid | undefined; op: string; peer: string }[] = [];
      node.on('nodeup', (peer) => {
        log.emit('nodeup', `${ctx.out.paint('green', 'nodeup')} ${peer}`, { node: peer });
        node.connection(peer)?.on('message', (m: ControlMessage) => {
          const mine = (m.kind === 'send' && pidKey(m.to) === me) || (m.kind === 'reg_send' && m.to.name === register);
          if (mine) senders.push({ from: m.from, op: controlOpName(m.op), peer });
        });
      });
      node.on('nodedown', (peer, reason) => log.emit('nodedown', `${ctx.out.paint('yellow', 'nodedown')} ${peer} (${reason.code})`, { node: peer, reason: reason.code }));
      const where = register ? `registered as ${register}` : 'not registered';
      log.emit('listening', `listening as ${node.name}, process ${showTerm(p.pid)} ${where}`, { node: node.name, registered: register ?? null }, `,"pid":${termToJson(p.pid)}`);
      for (;;) {
        let msg: Term;
        try {
          msg = await p.receive({ signal: ctx.signal });
        } catch (e) {
          if (ctx.signal.aborted) break;
          throw e;
        }
        count++;
        const s = senders.shift();
        const fromText = s?.from ? showTerm(s.from) : 'an unknown sender';
        const via = s ? ` via ${s.op}` : '';
        const fields = { node: s?.peer ?? null, op: s?.op ?? null };
        if (json) log.emit('message', '', fields, `,"from":${s?.from ? termToJson(s.from) : 'null'},"message":${termToJson(msg)}`);
        else log.emit('message', `from ${ctx.out.paint('cyan', fromText)}${via}: ${ctx.out.paint('green', showTerm(msg))}`, fields);
      }
    } finally {
      await node.stop();
    }
    stopped = true;
    log.emit('stopped', `stopped after ${count} message${count === 1 ? '' : 's'}`, { messages: count });
  },
};

export const nodeCommands: Command[] = [ping, rpc, send, listen];
