// tap coverage map: every test measures coverage of the library sources only
// (src/**), never of the test helpers or generated fixtures. The paths are
// relative to the project root, found from this file, so tap also runs from a
// subdirectory (`cd test/dist && npx tap busypoll.test.ts`).
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
const sources = walk(join(root, 'src')).map((f) => relative(root, f));
export default () => sources;
