// The clipping of terms in the CLI's event lines (src/cli/terms.ts), in process.
// (The JSON form the CLI prints is tested in test/etf/json.test.ts.)
import t from 'tap';
import { atom, ImproperList, Pid, tuple, type Term } from '../../src/index.js';
import { clipTerm, showTerm } from '../../src/cli/terms.js';

const pid = new Pid(atom('a@h'), 85, 2, 7);

t.test('clipTerm keeps event lines short', async (t) => {
  t.equal(showTerm(Array.from({ length: 10 }, (_, i) => i), 5), "[0, 1, 2, 3, '...']");
  t.equal(showTerm(tuple(atom('big'), Buffer.alloc(300000))), "{big, '#Bin<300000 bytes>'}");
  t.equal(showTerm(Buffer.from('short')), '<<"short">>');
  t.equal(showTerm(new Map<Term, Term>([[1, 2], [3, 4], [5, 6]]), 4), "#{1 => 2, 3 => 4, '...' => '...'}");
  t.equal(showTerm(new ImproperList([1, 2], 3)), '[1, 2|3]');
  t.equal(showTerm([104, 105]), '"hi"', 'printable lists as strings, as the shell');
  t.equal(showTerm(pid), "<'a@h'.85.2>", 'pids with their node');
  let deep: Term = 1;
  for (let i = 0; i < 100; i++) deep = [deep];
  t.match(showTerm(deep), /'\.\.\.'/, 'very deep nesting is cut');
  const original = [1, 2, 3];
  clipTerm(original, 1);
  t.same(original, [1, 2, 3], 'the term itself is untouched');
});
