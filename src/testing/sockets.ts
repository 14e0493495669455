// A connected socket pair for tests.
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { onTestEnd, type TestContext } from '../procs/process.js';

/** A connected pair of TCP sockets over 127.0.0.1, destroyed when the test ends. */
export async function socketPair(t?: TestContext): Promise<[Socket, Socket]> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection');
  const a = connect({ port: (srv.address() as { port: number }).port, host: '127.0.0.1' });
  await once(a, 'connect');
  const [b] = (await accepted) as [Socket];
  srv.close();
  onTestEnd(t, () => {
    a.destroy();
    b.destroy();
  });
  return [a, b];
}
