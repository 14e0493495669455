// The server both clients of bench/thrift.mjs call: beambridge's Node Thrift
// server (framed binary) in its own process, so client and server do not share
// an event loop. Prints "PORT <n>" when listening; exits when stdin closes.
import { serveChatChannel, PollStatus } from '../dist/chat/index.js';

const msg = (fromId, toId, text, clientMsgId) => ({ id: 1n, fromId, toId, text, sentAtMs: 1700000000000n, clientMsgId });
const srv = await serveChatChannel(
  {
    login: (u) => u,
    logout: () => {},
    send: msg,
    typing: () => {},
    poll: (u, after) => ({ status: PollStatus.CONTINUE, seq: after, events: [] }),
    touch: () => {},
    friendsPresence: () => [],
    presence: () => new Map(),
    history: () => [],
    partitionMap: () => [],
  },
  { port: 0, protocol: 'binary' },
);
console.log(`PORT ${srv.port}`);
process.stdin.resume();
process.stdin.on('end', () => srv.close().then(() => process.exit(0)));
