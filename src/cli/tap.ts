// `beambridge tap NODE`: live decoding of a real distribution link. An
// embedded EPMD answers lookups of NODE with the tap's own relay port; the
// relay forwards each connection, byte for byte, to NODE's real port and feeds
// both directions to a DistObserver (src/dist/observer.ts), which decodes the
// handshake and every frame. This file only wires sockets and prints events.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { termToJson } from '../etf/index.js';
import { EpmdClient, EpmdServer } from '../epmd/index.js';
import { DistObserver, type HandshakeMessage, type ObservedSide, type ObserverEvent } from '../dist/observer.js';
import { flagNames, MANDATORY_DFLAGS_25, MANDATORY_DFLAGS_26 } from '../dist/flags.js';
import { flag, int, str, type Command } from './command.js';
import { CommandFailed, portInUse, untilAborted } from './io.js';
import { EventLog } from './events.js';
import { showTerm } from './terms.js';

/** State of one relayed connection. */
interface Link {
  id: number;
  names: Record<ObservedSide, string>;
  messages: number;
}

function hex(n: bigint | number): string {
  return `0x${n.toString(16)}`;
}

/** The handshake message as `step key=value ...`, and as JSON fields. */
function describeStep(m: HandshakeMessage): { text: string; fields: Record<string, unknown> } {
  const f: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    if (k === 'step') continue;
    f[k] = typeof v === 'bigint' ? hex(v) : Buffer.isBuffer(v) ? v.toString('hex') : v;
  }
  if ('flags' in m) f.flagNames = flagNames(m.flags);
  const parts = Object.entries(f)
    .filter(([k]) => k !== 'flagNames' && k !== 'digestOk')
    .map(([k, v]) => `${k}=${String(v)}`);
  if ('digestOk' in m && m.digestOk !== undefined) parts.push(m.digestOk ? 'digest matches the cookie' : 'DIGEST DOES NOT MATCH THE COOKIE');
  if (m.step === 'status') return { text: `status ${m.status}${m.name ? ` ${m.name} creation=${m.creation}` : ''}`, fields: f };
  return { text: `${m.step} ${parts.join(' ')}`, fields: f };
}

export const tap: Command = {
  name: 'tap',
  summary: 'decode a live distribution link between two Erlang nodes',
  args: 'NODE',
  description: [
    'Watches the distribution connections other nodes make to NODE. The tap runs an EPMD',
    '(--epmd-port, default: a free port, printed) that answers lookups of NODE with the',
    "tap's own listening port, and relays each connection to NODE's real port (found in",
    'the EPMD at --node-epmd-port, default $ERL_EPMD_PORT or 4369). Start the other node',
    'with ERL_EPMD_PORT=<the tap EPMD port> and -start_epmd false (else erl starts an epmd',
    'daemon of its own on that port, which outlives it): its connection to NODE then passes',
    'through the tap, unchanged, so cookies and names still match. The tap prints the handshake steps,',
    'then every control message and its payload, decoded, with direction and time;',
    'fragments are reassembled and atom-cache references resolved. Ctrl-C stops it.',
  ].join('\n'),
  options: {
    'epmd-port': { type: 'string', short: 'p', arg: 'PORT', description: "the tap's EPMD port (default 0: pick a free one)" },
    'node-epmd-port': { type: 'string', arg: 'PORT', description: 'the EPMD where NODE is registered (default $ERL_EPMD_PORT or 4369)' },
    'node-host': { type: 'string', arg: 'HOST', description: "NODE's host (default: the part after @, or 127.0.0.1)" },
    'listen-port': { type: 'string', arg: 'PORT', description: 'the relay port (default 0: pick a free one)' },
    cookie: { type: 'string', arg: 'COOKIE', description: 'check the handshake digests against this cookie' },
    ticks: { type: 'boolean', description: 'also print ticks (keep-alive frames)' },
    json: { type: 'boolean', description: 'print one JSON object per event' },
    'max-terms': { type: 'string', arg: 'N', description: 'print at most N elements of each term (default 2000; JSON is never cut)' },
  },
  examples: [
    'beambridge tap b@127.0.0.1 --epmd-port 4370',
    "ERL_EPMD_PORT=4370 erl -start_epmd false -name a@127.0.0.1 -eval \"net_adm:ping('b@127.0.0.1').\"",
  ],
  positionals: { min: 1, max: 1 },
  async run(ctx, v, pos) {
    const node = pos[0];
    const at = node.indexOf('@');
    const alive = at < 0 ? node : node.slice(0, at);
    const nodeHost = str(v, 'node-host') ?? (at < 0 ? '127.0.0.1' : node.slice(at + 1));
    const upstream = new EpmdClient({ port: int(v, 'node-epmd-port', undefined, 1, 65535), host: nodeHost, timeoutMs: 5000 });
    const json = flag(v, 'json');
    const budget = int(v, 'max-terms', 2000, 1);
    const sockets = new Set<Socket>();
    let links = 0;
    let messages = 0;

    const relay: Server = createServer((client) => void relayConnection(client));
    relay.listen(int(v, 'listen-port', 0, 0, 65535), '127.0.0.1');
    await Promise.race([
      once(relay, 'listening'),
      once(relay, 'error').then(([e]) => Promise.reject(portInUse(e) ?? new CommandFailed(`relay cannot listen: ${(e as Error).message}`))),
    ]);
    const relayPort = (relay.address() as { port: number }).port;
    let epmd: EpmdServer;
    try {
      epmd = await EpmdServer.start({ port: int(v, 'epmd-port', 0, 0, 65535), resolve: (name) => (name === alive ? relayPort : undefined) });
    } catch (e) {
      relay.close();
      throw e;
    }

    let stopped = false;
    const log = new EventLog(ctx, json, () =>
      stopped ? undefined : `tap on 127.0.0.1:${relayPort} (epmd ${epmd.port}): ${links} connection${links === 1 ? '' : 's'}, ${messages} messages; Ctrl-C stops`,
    );
    /** One event of connection `link` (or of the tap itself). */
    const emit = (link: Link | undefined, event: string, text: string, fields: Record<string, unknown> = {}, colour?: 'red' | 'green' | 'dim', raw = '') => {
      const tag = link ? ctx.out.paint('magenta', `#${link.id} `) : '';
      log.emit(event, `${tag}${colour ? ctx.out.paint(colour, text) : text}`, link ? { conn: link.id, ...fields } : fields, raw);
    };
    const arrow = (l: Link, from: ObservedSide) => {
      const to: ObservedSide = from === 'initiator' ? 'acceptor' : 'initiator';
      return { from: l.names[from], to: l.names[to], text: `${l.names[from]} -> ${l.names[to]}` };
    };

    const onEvent = (l: Link, e: ObserverEvent) => {
      switch (e.type) {
        case 'handshake': {
          if (e.message.step === 'send_name') l.names.initiator = e.message.name;
          if (e.message.step === 'challenge') l.names.acceptor = e.message.name;
          const d = describeStep(e.message);
          const dir = arrow(l, e.from);
          emit(l, 'handshake', `${dir.text}  ${d.text}`, { from: dir.from, to: dir.to, step: e.message.step, ...d.fields }, 'dim');
          return;
        }
        case 'established': {
          const optional = flagNames(e.flags & ~(MANDATORY_DFLAGS_25 | MANDATORY_DFLAGS_26));
          const text = `connected ${e.initiator} <-> ${e.acceptor}; optional flags: ${optional.join(' ') || 'none'}`;
          emit(l, 'established', text, { initiator: e.initiator, acceptor: e.acceptor, flags: flagNames(e.flags) }, 'green');
          return;
        }
        case 'message': {
          l.messages++;
          messages++;
          const dir = arrow(l, e.from);
          const fields = { from: dir.from, to: dir.to, op: e.op, opName: e.opName, frame: e.frame };
          if (json) {
            // Terms in the lossless JSON form, never cut.
            const payload = e.payload === undefined ? 'null' : termToJson(e.payload);
            emit(l, 'message', '', fields, undefined, `,"control":${termToJson(e.control)},"payload":${payload}`);
            return;
          }
          const how = e.frame.kind === 'fragmented' ? `${e.frame.fragments} fragments, ` : e.frame.atomCacheRefs > 0 ? `${e.frame.atomCacheRefs} atom cache refs, ` : '';
          const payload = e.payload === undefined ? '' : `  payload ${ctx.out.paint('green', showTerm(e.payload, budget))}`;
          emit(l, 'message', `${dir.text}  ${ctx.out.paint('cyan', e.opName)} ${showTerm(e.control, budget)}${payload} ${ctx.out.paint('gray', `[${how}${e.frame.bytes} bytes]`)}`, fields);
          return;
        }
        case 'tick':
          if (flag(v, 'ticks')) emit(l, 'tick', `${arrow(l, e.from).text}  tick`, { from: arrow(l, e.from).from }, 'dim');
          return;
        case 'error':
          emit(l, 'error', `${arrow(l, e.from).text}  cannot decode (${e.error.code}: ${e.error.message}); still relaying`, { from: arrow(l, e.from).from, code: e.error.code, message: e.error.message }, 'red');
          return;
      }
    };

    async function relayConnection(client: Socket): Promise<void> {
      client.pause();
      sockets.add(client);
      client.on('error', () => {});
      const l: Link = { id: ++links, names: { initiator: 'initiator', acceptor: node }, messages: 0 };
      let target: { port: number } | undefined;
      try {
        target = await upstream.portPlease(alive, { signal: ctx.signal });
      } catch (e) {
        emit(l, 'error', `cannot look up ${alive}: ${(e as Error).message}`, { message: (e as Error).message }, 'red');
      }
      if (!target) {
        if (target === undefined) emit(l, 'error', `${node} is not registered with the EPMD at ${upstream.host}:${upstream.port}`, {}, 'red');
        client.destroy();
        sockets.delete(client);
        return;
      }
      const server = connect({ host: nodeHost, port: target.port });
      sockets.add(server);
      server.on('error', () => {});
      emit(l, 'connect', `${client.remoteAddress}:${client.remotePort} -> ${node} at ${nodeHost}:${target.port}`, { client: `${client.remoteAddress}:${client.remotePort}`, upstream: `${nodeHost}:${target.port}` });
      const observer = new DistObserver({ onEvent: (e) => onEvent(l, e), cookie: str(v, 'cookie') });
      let closedBy: ObservedSide | undefined;
      const closed = (by: ObservedSide) => () => {
        closedBy ??= by;
        client.destroy();
        server.destroy();
      };
      client.on('data', (d: Buffer) => observer.push('initiator', d));
      server.on('data', (d: Buffer) => observer.push('acceptor', d));
      client.pipe(server);
      server.pipe(client);
      client.on('close', closed('initiator'));
      server.on('close', closed('acceptor'));
      await Promise.all([once(client, 'close'), once(server, 'close')]);
      sockets.delete(client);
      sockets.delete(server);
      emit(l, 'close', `closed by ${closedBy === 'acceptor' ? l.names.acceptor : l.names.initiator} after ${l.messages} messages`, { by: closedBy === 'acceptor' ? l.names.acceptor : l.names.initiator, messages: l.messages });
    }

    emit(undefined, 'listening', `tap: epmd on 127.0.0.1:${epmd.port} answers lookups of ${alive} with the relay port ${relayPort}; ${node} is looked up in the EPMD at ${upstream.host}:${upstream.port}`, {
      epmdPort: epmd.port,
      relayPort,
      node,
      nodeEpmd: `${upstream.host}:${upstream.port}`,
    });
    if (!json) emit(undefined, 'hint', `start the other node with ERL_EPMD_PORT=${epmd.port} and -start_epmd false`);
    await untilAborted(ctx.signal);
    relay.close();
    for (const s of sockets) s.destroy();
    await epmd.close();
    stopped = true;
    emit(undefined, 'stopped', `tap stopped: ${links} connection${links === 1 ? '' : 's'}, ${messages} messages`, { connections: links, messages });
  },
};
