// The Erlang chat stub (erlang-stub/, shipped in the package), for tests and
// `darklaunch --spawn`:
// builds it, starts one node or a cluster on free ports, waits for the JSON
// ready line, and stops every node by pid when the test ends (even when it
// fails) or when this process exits.
//
// The stub builds with erlc into erlang-stub/ebin, or, when the package
// directory is not writable (a read-only node_modules), into a directory
// under the OS temp dir; CHAT_STUB_EBIN chooses another place.
//
//   const stub = await startStub(t, { users: 100, friends: 10 });
//   stub.thriftPort, stub.node, stub.cookie, stub.epmdPort   // connect here
//   await stub.fault.closeThrift();                          // fault injection
//
//   const nodes = await startStubCluster(t, 3);              // slots split evenly
//   await nodes[1].kill();                                   // kill -9
//   nodes[1] = await nodes[1].restart();                     // same name, slots, ports
//   startStubCluster(t, 3, { root: '/opt/otp-sid' })         // the nodes run OTP 29
//
// Erlang-side calls (gen_server:call({chat_channel, Node}, ...)) and the fault
// commands are documented in erlang-stub/README.md; the faults are sent here
// over the stub's text control port, so no Erlang client is needed.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, copyFileSync, cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type Started, type TestContext } from './process.js';
import { erlCommand, isTestContext, startEpmdProcess } from './erl.js';

/** The stub's directory (erlang-stub/). */
export const STUB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'erlang-stub');
/** The start script. */
export const STUB_BIN = join(STUB_DIR, 'bin', 'chat-stub');

/** Options of one stub node; everything is optional. */
export interface StubOptions {
  /** Full node name; default `stubN_<pid>_<random>@127.0.0.1` (unique on a shared epmd). */
  name?: string;
  /** Default: a random cookie. */
  cookie?: string;
  /** epmd port; default {@link startEpmd} (BEAMBRIDGE_EPMD_PORT or a new epmd). */
  epmdPort?: number;
  /** Default 0: an ephemeral port, read back from the ready line. */
  thriftPort?: number;
  /** Slot ranges, e.g. `[[0, 511]]` or `'0-511,600-700'`; default all. */
  slots?: [number, number][] | string;
  users?: number;
  friends?: number;
  seed?: number;
  idleMs?: number;
  /** 0 disables the offline-after-grace rule. */
  graceMs?: number;
  window?: number;
  historyMax?: number;
  dedupMs?: number;
  /** Seed nodes of the cluster. */
  cluster?: string[];
  clusterWaitMs?: number;
  /** Erlang logger level on stderr (default warning). */
  logLevel?: string;
  /** More `--flag value` arguments for bin/chat-stub. */
  extraArgs?: string[];
  /** How long to wait for the ready line (default 90 s: the first start builds). */
  timeoutMs?: number;
  /**
   * Run the node in this OTP root (see otpVariants() in erl.ts; '' or
   * absent: the system erl). The stub is compiled there once per process.
   */
  root?: string;
}

/** The JSON ready line a stub prints. */
export interface StubReady {
  node: string;
  thrift_port: number;
  control_port: number;
  slots: [number, number][];
  users: number;
  friends: number;
  seed: number;
  idle_ms: number;
  grace_ms: number;
  window: number;
  cluster: string[];
  cluster_complete: boolean;
  cookie: string;
  otp_release: string;
  os_pid: number;
}

/** A reply of the control port: `ok` plus command-specific fields. */
export type ControlReply = { ok: boolean; error?: string } & Record<string, unknown>;

/** One running stub node. */
export interface StubNode {
  node: string;
  thriftPort: number;
  controlPort: number;
  cookie: string;
  epmdPort: number;
  /** The OS pid of the node (the erl process, since the script execs erl). */
  pid: number;
  slots: [number, number][];
  ready: StubReady;
  process: Started;
  /**
   * SIGTERM, then SIGKILL; resolves when the node has exited (and the epmd
   * {@link startStub} started for it, if it did). Idempotent.
   */
  stop(): Promise<void>;
  /** `kill -9`: the VM dies at once (no cleanup); resolves when it has exited. */
  kill(): Promise<void>;
  /**
   * Starts the node again after it died or was stopped: the same name,
   * cookie, epmd, slots, cluster seeds and Thrift port, the same OTP root.
   * Resolves with the new node once it printed its ready line (stopped in
   * the same teardown).
   */
  restart(): Promise<StubNode>;
  /** Sends one control command line and resolves with its reply. */
  control(line: string): Promise<ControlReply>;
  /** The node's counters (online users, held polls, connections, ...). */
  stats(): Promise<Record<string, unknown>>;
  /** The six fault commands of erlang-stub/README.md. */
  fault: {
    killChannel(user: number | bigint): Promise<void>;
    crashPresence(): Promise<void>;
    disconnectPeers(): Promise<string[]>;
    delay(ms: number): Promise<void>;
    closeThrift(): Promise<number>;
    refuseConnections(ms: number): Promise<void>;
  };
}

/**
 * Where the stub's compiled code goes: `CHAT_STUB_EBIN`, else erlang-stub/ebin
 * when the package directory is writable, else a directory per user and
 * package location under the OS temp dir.
 */
export function stubEbinDir(): string {
  if (process.env.CHAT_STUB_EBIN) return process.env.CHAT_STUB_EBIN;
  try {
    accessSync(STUB_DIR, constants.W_OK);
    return join(STUB_DIR, 'ebin');
  } catch {
    const id = createHash('sha256').update(STUB_DIR).digest('hex').slice(0, 12);
    return join(tmpdir(), `beambridge-chat-stub-${process.getuid?.() ?? 'u'}-${id}`, 'ebin');
  }
}

let built: Promise<void> | undefined;

/** Builds the stub once per process (under the same lock as bin/chat-stub), into {@link stubEbinDir}. */
export function buildStub(): Promise<void> {
  built ??= new Promise<void>((resolve, reject) => {
    const ebin = stubEbinDir();
    mkdirSync(ebin, { recursive: true });
    execFile('flock', [join(ebin, '.build.lock'), 'make', '-s', '-C', STUB_DIR, `EBIN=${ebin}`],
      { timeout: 300_000 }, (err, _stdout, stderr) => {
        if (err) reject(new Error(`building erlang-stub failed: ${err.message}\n${stderr}`));
        else resolve();
      });
  });
  return built;
}

const rootBuilds = new Map<string, Promise<string>>();

/**
 * Compiles the stub inside an OTP root (once per process and root) and
 * resolves with the ebin directory as seen inside the root.
 */
export function buildStubIn(root: string): Promise<string> {
  let b = rootBuilds.get(root);
  if (b === undefined) {
    b = (async () => {
      await buildStub();
      const rel = `/tmp/beambridge-chat-stub-${process.pid}`;
      const dir = join(root, rel);
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      for (const d of ['src', 'include']) cpSync(join(STUB_DIR, d), join(dir, d), { recursive: true });
      mkdirSync(join(dir, 'ebin'), { recursive: true });
      copyFileSync(join(stubEbinDir(), 'chat_stub.app'), join(dir, 'ebin', 'chat_stub.app'));
      const srcs = readdirSync(join(dir, 'src')).filter((f) => f.endsWith('.erl')).map((f) => `${rel}/src/${f}`);
      await new Promise<void>((resolve, reject) => {
        execFile('chroot', [root, 'erlc', '-I', `${rel}/include`, '-o', `${rel}/ebin`, ...srcs], { timeout: 300_000 }, (err, _o, stderr) => {
          if (err) reject(new Error(`building erlang-stub in ${root} failed: ${err.message}\n${stderr}`));
          else resolve();
        });
      });
      return `${rel}/ebin`;
    })();
    rootBuilds.set(root, b);
  }
  return b;
}

/** The command that starts a stub node: bin/chat-stub, or what it runs, inside an OTP root. */
async function stubCommand(name: string, cookie: string, epmdPort: number, o: StubOptions): Promise<{ cmd: string; args: string[] }> {
  if (!o.root) return { cmd: STUB_BIN, args: ['--name', name, '--cookie', cookie, '--epmd-port', String(epmdPort), ...stubArgs(o)] };
  const ebin = await buildStubIn(o.root);
  return erlCommand(['-noinput', '-pa', ebin, '-name', name, '-setcookie', cookie, '-start_epmd', 'false',
    '-kernel', 'logger', '[{handler,default,logger_std_h,#{config=>#{type=>standard_error},formatter=>{logger_formatter,#{single_line=>true}}}}]',
    '-eval', 'chat_stub:main()', '-extra', ...stubArgs(o)], o.root);
}

let counter = 0;
function uniqueName(): string {
  counter += 1;
  return `stub${counter}_${process.pid}_${randomBytes(3).toString('hex')}@127.0.0.1`;
}

/** A random cookie. */
export function randomCookie(): string {
  return `stub_${randomBytes(8).toString('hex')}`;
}

/** Splits the 1024 slots into n contiguous ranges. */
export function splitSlots(n: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    out.push([Math.floor((i * 1024) / n), Math.floor(((i + 1) * 1024) / n) - 1]);
  }
  return out;
}

function slotsArg(s: [number, number][] | string): string {
  return typeof s === 'string' ? s : s.map(([a, b]) => `${a}-${b}`).join(',');
}

/** The node's own flags (everything but name, cookie and epmd port). */
function stubArgs(o: StubOptions): string[] {
  const args = ['--thrift-port', String(o.thriftPort ?? 0)];
  const flag = (f: string, v: unknown) => {
    if (v !== undefined) args.push(`--${f}`, String(v));
  };
  if (o.slots !== undefined) flag('slots', slotsArg(o.slots));
  flag('users', o.users);
  flag('friends', o.friends);
  flag('seed', o.seed);
  flag('idle-ms', o.idleMs);
  flag('grace-ms', o.graceMs);
  flag('window', o.window);
  flag('history-max', o.historyMax);
  flag('dedup-ms', o.dedupMs);
  if (o.cluster !== undefined && o.cluster.length > 0) flag('cluster', o.cluster.join(','));
  flag('cluster-wait-ms', o.clusterWaitMs);
  flag('log-level', o.logLevel);
  args.push(...(o.extraArgs ?? []));
  return args;
}

/** Sends one line to a stub's control port and resolves with the JSON reply. */
export function controlCommand(port: number, line: string, timeoutMs = 30_000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`control command '${line}' timed out`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${line}\n`));
    sock.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(timer);
        sock.end();
        try {
          resolve(JSON.parse(buf.slice(0, i)) as ControlReply);
        } catch (e) {
          reject(e as Error);
        }
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function checked(port: number, line: string): Promise<ControlReply> {
  const r = await controlCommand(port, line);
  if (!r.ok) throw new Error(`stub control '${line}' failed: ${r.error ?? 'unknown error'}`);
  return r;
}

async function launch(t: TestContext | undefined, name: string, cookie: string, epmdPort: number, o: StubOptions): Promise<StubNode> {
  await buildStub();
  const { cmd, args } = await stubCommand(name, cookie, epmdPort, o);
  const proc = await startProcess({
    cmd,
    args,
    env: { CHAT_STUB_EBIN: stubEbinDir(), ERL_EPMD_PORT: String(epmdPort), ERL_CRASH_DUMP: `/tmp/chat-stub-${name}-${process.pid}.dump` },
    ready: /^\{.*"thrift_port":/,
    timeoutMs: o.timeoutMs ?? 90_000,
    t,
  });
  const line = proc.lines.find((l) => l.startsWith('{'))!;
  const ready = JSON.parse(line) as StubReady;
  const cp = ready.control_port;
  return {
    node: ready.node,
    thriftPort: ready.thrift_port,
    controlPort: cp,
    cookie: ready.cookie,
    epmdPort,
    pid: proc.pid,
    slots: ready.slots,
    ready,
    process: proc,
    stop: () => proc.stop(),
    kill: async () => {
      if (proc.exited) return;
      const exited = once(proc.child, 'exit');
      proc.child.ref(); // stay alive until the exit event (the child is unref'd; see startProcess)
      process.kill(proc.pid, 'SIGKILL');
      await exited;
    },
    restart: async () => {
      if (!proc.exited) await proc.stop();
      return launch(t, name, cookie, epmdPort, { ...o, thriftPort: ready.thrift_port });
    },
    control: (l) => controlCommand(cp, l),
    stats: async () => (await checked(cp, 'stats')).stats as Record<string, unknown>,
    fault: {
      killChannel: async (user) => {
        await checked(cp, `kill_channel ${user}`);
      },
      crashPresence: async () => {
        await checked(cp, 'crash_presence');
      },
      disconnectPeers: async () => (await checked(cp, 'disconnect_peers')).nodes as string[],
      delay: async (ms) => {
        await checked(cp, `delay ${ms}`);
      },
      closeThrift: async () => (await checked(cp, 'close_thrift')).closed as number,
      refuseConnections: async (ms) => {
        await checked(cp, `refuse ${ms}`);
      },
    },
  };
}

/**
 * Builds (once) and starts one stub node, with its own epmd on a free port
 * unless `epmdPort` is given. It is stopped on `stop()`, when the test `t`
 * ends, and when this process exits. `startStub(opts)` works without a test.
 */
export async function startStub(t?: TestContext, opts?: StubOptions): Promise<StubNode>;
export async function startStub(opts: StubOptions): Promise<StubNode>;
export async function startStub(a?: TestContext | StubOptions, b?: StubOptions): Promise<StubNode> {
  const [t, opts] = b === undefined && !isTestContext(a) ? [undefined, (a ?? {}) as StubOptions] : [a as TestContext | undefined, b ?? {}];
  const epmd = opts.epmdPort === undefined ? await startEpmdProcess(t) : undefined;
  const node = await launch(t, opts.name ?? uniqueName(), opts.cookie ?? randomCookie(), opts.epmdPort ?? epmd!.port, opts);
  return epmd?.process === undefined ? node : withOwnEpmd(t, node, epmd.process);
}

/**
 * The epmd started for a node stops with it; `restart()` after `stop()`
 * starts it again on the same port, so the node keeps its address.
 */
function withOwnEpmd(t: TestContext | undefined, node: StubNode, epmd: Started): StubNode {
  const { stop, restart } = node;
  node.stop = async () => {
    await stop();
    await epmd.stop();
  };
  node.restart = async () => {
    const again = epmd.exited ? (await startEpmdProcess(t, node.epmdPort)).process : epmd;
    const n = await restart();
    return again === undefined ? n : withOwnEpmd(t, n, again);
  };
  return node;
}

/**
 * Starts n stub nodes that form one cluster: one cookie, one epmd, the slots
 * split evenly (node i owns splitSlots(n)[i]), each node seeded with all the
 * others. Resolves once every node printed its ready line, which each does
 * after it has heard from all its seeds. `opts` applies to every node
 * (`name`, `slots` and `cluster` are chosen here). Stopped like {@link startStub}'s;
 * `startStubCluster(n, opts)` works without a test.
 */
export async function startStubCluster(t: TestContext | undefined, n: number, opts?: StubOptions): Promise<StubNode[]>;
export async function startStubCluster(n: number, opts?: StubOptions): Promise<StubNode[]>;
export async function startStubCluster(a: TestContext | number | undefined, b?: number | StubOptions, c?: StubOptions): Promise<StubNode[]> {
  const [t, n, opts] = typeof a === 'number' ? [undefined, a, (b ?? {}) as StubOptions] : [a, b as number, c ?? {}];
  const epmdPort = opts.epmdPort ?? (await startEpmdProcess(t)).port;
  const cookie = opts.cookie ?? randomCookie();
  const names = Array.from({ length: n }, () => uniqueName());
  const ranges = splitSlots(n);
  await buildStub();
  return Promise.all(names.map((name, i) =>
    launch(t, name, cookie, epmdPort, {
      clusterWaitMs: 90_000,
      ...opts,
      slots: [ranges[i]!],
      cluster: names.filter((x) => x !== name),
    })));
}
