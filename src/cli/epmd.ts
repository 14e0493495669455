// `beambridge epmd names | serve`: thin layers over src/epmd's client and
// embedded server.
import { EpmdClient, EpmdServer, NODE_TYPE_HIDDEN, type EpmdRegistrationInfo } from '../epmd/index.js';
import { flag, int, str, type Command } from './command.js';
import { untilAborted } from './io.js';
import { EventLog } from './events.js';

const hostOption = { type: 'string', arg: 'HOST', description: 'EPMD host (default 127.0.0.1)' } as const;

export const epmdNames: Command = {
  name: 'epmd names',
  summary: 'list the nodes registered in an EPMD',
  args: '',
  description: [
    'Asks an EPMD (NAMES_REQ) which nodes are registered there and where they listen, like',
    '`epmd -names`. --epmd-port (as for every command; --port is the same) defaults to',
    '$ERL_EPMD_PORT, then 4369. Exits 1 when no EPMD answers.',
  ].join('\n'),
  options: {
    host: hostOption,
    'epmd-port': { type: 'string', arg: 'PORT', description: 'EPMD port (default $ERL_EPMD_PORT or 4369)' },
    port: { type: 'string', short: 'p', arg: 'PORT', description: 'the same as --epmd-port' },
    json: { type: 'boolean', description: 'print a JSON array of {name, port}' },
    timeout: { type: 'string', arg: 'MS', description: 'give up after MS milliseconds (default 5000)' },
  },
  examples: ['beambridge epmd names', 'beambridge epmd names --host 127.0.0.1 --epmd-port 4369 --json'],
  positionals: { min: 0, max: 0 },
  async run(ctx, v) {
    const port = int(v, 'epmd-port', undefined, 1, 65535) ?? int(v, 'port', undefined, 1, 65535);
    const client = new EpmdClient({ host: str(v, 'host'), port, timeoutMs: int(v, 'timeout', 5000, 1) });
    const nodes = await client.names({ signal: ctx.signal });
    if (flag(v, 'json')) {
      ctx.io.stdout.write(JSON.stringify(nodes) + '\n');
      return;
    }
    ctx.io.stdout.write(ctx.out.paint('dim', `epmd at ${client.host}:${client.port}: ${nodes.length} node${nodes.length === 1 ? '' : 's'}`) + '\n');
    for (const n of nodes) ctx.io.stdout.write(`name ${ctx.out.paint('cyan', n.name)} at port ${n.port}\n`);
  },
};

export const epmdServe: Command = {
  name: 'epmd serve',
  summary: 'run the embedded EPMD in the foreground',
  args: '',
  description: [
    "Runs beambridge's embedded EPMD until interrupted, printing each node that registers",
    'or goes away. Erlang nodes use it with ERL_EPMD_PORT=PORT (and -start_epmd false);',
    '`epmd -names` and `beambridge epmd names` list them. --port 0 picks a free port; the',
    'first line says which. A port already in use fails with ERR_PORT_IN_USE.',
  ].join('\n'),
  options: {
    host: { type: 'string', arg: 'HOST', description: 'address to listen on (default 127.0.0.1)' },
    port: { type: 'string', short: 'p', arg: 'PORT', description: 'port to listen on (default 4369; 0 picks one)' },
    'epmd-port': { type: 'string', arg: 'PORT', description: 'the same as --port' },
    'relaxed-command-check': { type: 'boolean', description: 'honour kill and stop requests, like epmd -relaxed_command_check' },
    json: { type: 'boolean', description: 'print one JSON object per event' },
  },
  examples: ['beambridge epmd serve --port 4370', 'ERL_EPMD_PORT=4370 erl -sname a -start_epmd false'],
  positionals: { min: 0, max: 0 },
  async run(ctx, v) {
    const json = flag(v, 'json');
    const server = await EpmdServer.start({
      host: str(v, 'host'),
      port: int(v, 'epmd-port', undefined, 0, 65535) ?? int(v, 'port', 4369, 0, 65535),
      relaxedCommandCheck: flag(v, 'relaxed-command-check'),
    });
    const host = str(v, 'host') ?? '127.0.0.1';
    let stopped = false;
    const log = new EventLog(ctx, json, () =>
      stopped ? undefined : `epmd on ${host}:${server.port}: ${server.registrations().length} registered (Ctrl-C stops)`,
    );
    const describe = (n: EpmdRegistrationInfo) => ({ name: n.name, port: n.port, hidden: n.nodeType === NODE_TYPE_HIDDEN, creation: n.creation });
    log.emit('listening', `epmd listening on ${host}:${server.port}`, { host, port: server.port });
    server.on('register', (n: EpmdRegistrationInfo) =>
      log.emit('register', `${ctx.out.paint('green', 'register')}   ${n.name} at port ${n.port}${n.nodeType === NODE_TYPE_HIDDEN ? ' (hidden)' : ''}`, describe(n)),
    );
    server.on('unregister', (n: EpmdRegistrationInfo) => log.emit('unregister', `${ctx.out.paint('yellow', 'unregister')} ${n.name}`, describe(n)));
    server.on('clientError', (e: Error) => log.emit('clientError', ctx.out.paint('red', e.message), { message: e.message }));
    const killed = new Promise<void>((resolve) => server.once('kill', () => resolve()));
    await Promise.race([untilAborted(ctx.signal), killed]);
    await server.close();
    stopped = true;
    log.emit('stopped', 'epmd stopped');
  },
};

export const epmdCommands: Command[] = [epmdNames, epmdServe];
