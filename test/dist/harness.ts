// Test harness for the dist layer: a minimal "node" made of a listener, an
// optional EPMD registration, and the pending-connection table the node layer
// keeps for simultaneous connects. Everything it starts is closed in teardown.
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import {
  acceptHandshake,
  dial,
  resolveSimultaneous,
  DistConnection,
  type AcceptDecision,
  type ControlMessage,
  type DialOptions,
  type DistConnectionOptions,
  type DistTlsOptions,
  type HandshakeResult,
  type PeerHello,
} from '../../src/dist/index.js';
import { EpmdClient, type EpmdRegistration } from '../../src/epmd/index.js';
import type { Teardownable } from '../../src/testing/index.js';
import { waitUntil } from '../helpers/until.js';

export const uniq = `${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

export interface HarnessOptions {
  name: string;
  cookie: string;
  epmdPort?: number;
  flags?: bigint;
  /** Called inside the acceptor's decide, after the default rule; may replace the decision. */
  decide?: (peer: PeerHello, dflt: AcceptDecision) => AcceptDecision | Promise<AcceptDecision>;
  connection?: DistConnectionOptions;
  /** Run the distribution over TLS (both directions). */
  tls?: DistTlsOptions;
  /** Handshake step deadline; default 5000 ms. */
  timeoutMs?: number;
}

/** A listening pseudo-node. */
export class Harness {
  readonly creation = 0x10000 + Math.floor(Math.random() * 0xfffff);
  server!: Server;
  port = 0;
  registration: EpmdRegistration | undefined;
  /** Outgoing dials in progress, by peer name. */
  readonly pending = new Map<string, AbortController>();
  readonly accepted: HandshakeResult[] = [];
  readonly acceptErrors: Error[] = [];
  readonly connections: DistConnection[] = [];
  private readonly sockets = new Set<Socket>();
  /** Every message each connection received, from its first frame on. */
  private readonly logs = new Map<DistConnection, { msgs: ControlMessage[]; waiters: (() => void)[] }>();

  constructor(readonly o: HarnessOptions) {}

  static async start(t: Teardownable, o: HarnessOptions): Promise<Harness> {
    const h = new Harness(o);
    h.server = createServer((s) => h.onSocket(s));
    h.server.listen(0, '127.0.0.1');
    await once(h.server, 'listening');
    h.port = (h.server.address() as { port: number }).port;
    if (o.epmdPort !== undefined) {
      h.registration = await new EpmdClient({ port: o.epmdPort }).register({ name: o.name.split('@')[0], port: h.port, hidden: true });
    }
    t.teardown(() => h.stop());
    return h;
  }

  private onSocket(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    acceptHandshake(s, {
      name: this.o.name,
      cookie: this.o.cookie,
      creation: this.creation,
      flags: this.o.flags,
      timeoutMs: this.o.timeoutMs ?? 5000,
      tls: this.o.tls,
      decide: async (peer) => {
        const ctl = this.pending.get(peer.name);
        let d: AcceptDecision = 'ok';
        if (this.connections.some((c) => c.peer === peer.name && !c.closed)) d = 'alive';
        else if (ctl) d = resolveSimultaneous(this.o.name, peer.name);
        if (this.o.decide) d = await this.o.decide(peer, d);
        if (d === 'ok_simultaneous') this.pending.get(peer.name)?.abort(new Error('simultaneous connect: theirs wins'));
        return d;
      },
      beforeAck: (r) => {
        for (const c of this.connections) if (c.peer === r.peer) c.close();
      },
    }).then(
      (hs) => {
        this.accepted.push(hs);
        this.adopt(new DistConnection(hs, this.o.connection));
      },
      (e: Error) => {
        this.acceptErrors.push(e);
      },
    );
  }

  /**
   * Resolves once `pred()` holds (a condition on what this harness accepted); rejects
   * after `timeoutMs`, naming the harness and what it has accepted so far.
   */
  until(pred: () => boolean, timeoutMs = 20_000): Promise<void> {
    const seen = () => `harness ${this.o.name} (${this.accepted.length} accepted, ${this.acceptErrors.length} refused): condition`;
    return waitUntil(seen, pred, timeoutMs);
  }

  /** Dials a peer, registering the attempt as pending for simultaneous-connect resolution. */
  async dial(peer: string, extra: Partial<DialOptions> = {}): Promise<HandshakeResult> {
    const ac = new AbortController();
    this.pending.set(peer, ac);
    try {
      return await dial(peer, {
        name: this.o.name,
        cookie: this.o.cookie,
        creation: this.creation,
        flags: this.o.flags,
        epmd: this.o.epmdPort === undefined ? undefined : { port: this.o.epmdPort },
        timeoutMs: this.o.timeoutMs ?? 5000,
        tls: this.o.tls,
        signal: ac.signal,
        ...extra,
      });
    } finally {
      if (this.pending.get(peer) === ac) this.pending.delete(peer);
    }
  }

  /** Dials and wraps the result in a connection owned by this harness. */
  async connect(peer: string, extra: Partial<DialOptions> = {}): Promise<DistConnection> {
    return this.adopt(new DistConnection(await this.dial(peer, extra), this.o.connection));
  }

  private adopt(c: DistConnection): DistConnection {
    const log = { msgs: [] as ControlMessage[], waiters: [] as (() => void)[] };
    this.logs.set(c, log);
    c.on('message', (m: ControlMessage) => {
      log.msgs.push(m);
      for (const w of log.waiters.splice(0)) w();
    });
    this.connections.push(c);
    return c;
  }

  /**
   * The first message received on `c` (since the connection started) that
   * `pred` accepts and that no earlier call returned.
   */
  async next(c: DistConnection, pred: (m: ControlMessage) => boolean, timeoutMs = 60_000): Promise<ControlMessage> {
    const log = this.logs.get(c);
    if (!log) throw new Error('not a harness connection');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = log.msgs.findIndex(pred);
      if (i >= 0) return log.msgs.splice(i, 1)[0];
      if (Date.now() > deadline) throw new Error('no matching message');
      await new Promise<void>((r) => {
        log.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.close();
    for (const s of this.sockets) s.destroy();
    await this.registration?.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
