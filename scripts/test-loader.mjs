// The TypeScript loader the tests run with (.taprc node-arg): registers
// test-loader-hooks.mjs, which transpiles each .ts module with SWC, as tap's own
// loader (ts-node with SWC, per tsconfig.tap.json) did, without loading ts-node
// and the typescript compiler into every test process and its loader thread
// (~0.3 s of CPU per test file). Types are checked by `npm run typecheck`.
import { register } from 'node:module';

register('./test-loader-hooks.mjs', import.meta.url);
