import t from 'tap';
import { atom, tuple, Tuple } from '../src/index.js';
import { freePort, startEpmd, startErlNode, runErl } from '../src/testing/index.js';

t.test('atoms are interned and tuples hold elements', async (t) => {
  t.equal(atom('ok'), atom('ok'));
  const tp = tuple(atom('ok'), 1);
  t.ok(tp instanceof Tuple);
  t.equal(tp.size, 2);
  t.ok((await freePort()) > 0);
});

t.test('real erl runs', async (t) => {
  const out = await runErl('io:format("~p", [lists:reverse([1,2,3])])');
  t.equal(out, '[3,2,1]');
  const port = await startEpmd(t);
  const node = await startErlNode(t, { name: 'smoke1@127.0.0.1', cookie: 'c', epmdPort: port });
  t.ok(node.pid > 0);
});
