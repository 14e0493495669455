// The ChatBackend contract suite (contract.ts), unchanged, over both
// transports, on a real three-node stub cluster, the stub nodes running the
// newest OTP present (OTP 29 where scripts/otp-roots.sh made its root); in
// `npm run test:long`, one cluster per OTP version (system, 27, 29). Nothing
// here differs by version that is not checked per version elsewhere: the stub
// builds and starts on each (test/stub/build.test.ts), distribution and
// gen_server calls run against each (test/dist/erl, test/otp/genserver-erl),
// and the other chat tests run the stub on the system OTP (crash,
// thrift-routing, demo-web). One cluster serves both transports.
import t from 'tap';
import { ChatChannelCluster, ChatCluster } from '../../src/chat/index.js';
import { Node } from '../../src/otp/index.js';
import { startStubCluster } from '../../src/testing/index.js';
import { contractSuite } from './contract.js';
import { newestOrAllVariants } from '../helpers/otp.js';

const IDLE_MS = 1000;

for (const [i, v] of newestOrAllVariants(t).entries()) {
  t.test(`chat contract, stub cluster on ${v.label}`, async (t) => {
    const nodes = await startStubCluster(t, 3, { root: v.root, users: 2000, friends: 20, idleMs: IDLE_MS, graceMs: 0 });
    const release = nodes[0]!.ready.otp_release;
    t.comment(`stub nodes run OTP ${release}`);
    if (v.root !== '') t.not(release, '25', 'the stub runs the root OTP');
    const node = await Node.start({ name: `chatc${i}_${process.pid}@127.0.0.1`, cookie: nodes[0]!.cookie, epmd: { port: nodes[0]!.epmdPort } });
    t.teardown(() => node.stop());

    await t.test('over distribution (ChatCluster)', (t) =>
      contractSuite(t, {
        nodes,
        base: 1024n * 10n,
        seeded: 7n,
        idleMs: IDLE_MS,
        connect: () => ChatCluster.connect({ node, seeds: [nodes[1]!.node] }),
      }),
    );
    await t.test('over Thrift (ChatChannelCluster)', (t) =>
      contractSuite(t, {
        nodes,
        base: 1024n * 20n,
        seeded: 1007n,
        idleMs: IDLE_MS,
        connect: () => ChatChannelCluster.connect({ seeds: [{ host: '127.0.0.1', port: nodes[2]!.thriftPort }], presenceIntervalMs: 100 }),
      }),
    );
  });
}
