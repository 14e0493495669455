// tap coverage map: every test measures coverage of the library sources only
// (src/**), never of the test helpers or generated fixtures.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
const sources = walk('src');
export default () => sources;
