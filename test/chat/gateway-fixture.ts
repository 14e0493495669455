// Shared setup of the gateway tests: a real chat stub, a beambridge node with
// ChatCluster over distribution, and a gateway over it, all stopped in the
// test's teardown. Plus a small cookie-keeping fetch client for the HTTP API.
import { randomBytes } from 'node:crypto';
import { Node } from '../../src/otp/index.js';
import { ChatCluster, serveGateway, acceptKnownUsers, type Gateway, type GatewayOptions } from '../../src/chat/index.js';
import { startStub, type StubNode, type StubOptions, type Teardownable } from '../../src/testing/index.js';

export const SECRET = 'gateway-test-secret-0123456789abcdef';

export interface ChatFixture {
  stub: StubNode;
  node: Node;
  chat: ChatCluster;
  gateway: Gateway;
  /** Starts another gateway over the same backend (closed in teardown). */
  startGateway(o?: Partial<GatewayOptions>): Promise<Gateway>;
}

export async function startChat(t: Teardownable, o: { stub?: StubOptions; gateway?: Partial<GatewayOptions> } = {}): Promise<ChatFixture> {
  const stub = await startStub(t, { users: 40, friends: 6, ...o.stub });
  const node = await Node.start({ name: `gw_${process.pid}_${randomBytes(3).toString('hex')}@127.0.0.1`, cookie: stub.cookie, epmd: { port: stub.epmdPort } });
  const chat = await ChatCluster.connect({ node, seeds: [stub.node] });
  const gateways: Gateway[] = [];
  t.teardown(async () => {
    for (const g of gateways) await g.close();
    await chat.close();
    await node.stop();
  });
  const startGateway = async (extra: Partial<GatewayOptions> = {}): Promise<Gateway> => {
    const g = await serveGateway({ backend: chat, secret: SECRET, authenticate: acceptKnownUsers(chat), ...o.gateway, ...extra });
    gateways.push(g);
    return g;
  };
  const gateway = await startGateway();
  return { stub, node, chat, gateway, startGateway };
}

/** A fetch client that keeps one session cookie, like one browser. */
export class Client {
  cookie = '';
  constructor(public base: string) {}

  async req(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(new URL(path, this.base), { method, headers: h, body: payload, signal: AbortSignal.timeout(60_000) });
    const set = res.headers.get('set-cookie');
    if (set) {
      const v = set.split(';')[0];
      this.cookie = v.endsWith('=') ? '' : v;
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    return { status: res.status, json, headers: res.headers };
  }

  async login(userId: string | number): Promise<any> {
    const r = await this.req('POST', '/api/login', { userId: String(userId) });
    if (r.status !== 200) throw new Error(`login ${userId}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  }
}
