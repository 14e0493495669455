// ESM loader hooks for the tests (registered by test-loader.mjs):
// - resolve: a relative `.js` import that does not exist is the `.ts` next to it
//   (the NodeNext convention the sources use: `import '../src/x.js'` means x.ts);
// - load: a `.ts` file outside node_modules is transpiled by SWC with the options
//   tsconfig.json implies (ES2022, ES modules, strict, class names kept), with an
//   inline source map, so stack traces and coverage point at the TypeScript.
// The output is kept in node_modules/.cache/beambridge-tests, keyed by a digest of
// the file's path, its text and the SWC version and options: a suite transpiles
// each file once instead of once per test process, and a process whose files are
// all there does not load SWC's native module at all.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** @type {import('@swc/core').Options} */
const options = {
  swcrc: false,
  sourceMaps: 'inline',
  module: { type: 'es6', strictMode: true, noInterop: false },
  jsc: {
    parser: { syntax: 'typescript', tsx: false, decorators: false, dynamicImport: true },
    target: 'es2022',
    keepClassNames: true,
  },
};

const require = createRequire(import.meta.url);
const salt = `${require('@swc/core/package.json').version}\0${JSON.stringify(options)}`;
const cacheDir = fileURLToPath(new URL('../node_modules/.cache/beambridge-tests/', import.meta.url));
let swc; // @swc/core, loaded on the first cache miss

const local = (s) => s.startsWith('./') || s.startsWith('../') || s.startsWith('/') || s.startsWith('file:');

export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && specifier.endsWith('.js') && local(specifier)) {
      return next(`${specifier.slice(0, -3)}.ts`, context);
    }
    throw e;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts') || url.includes('/node_modules/')) return next(url, context);
  const filename = fileURLToPath(url);
  const text = await readFile(filename, 'utf8');
  const cached = join(cacheDir, `${createHash('sha256').update(`${salt}\0${filename}\0${text}`).digest('hex')}.js`);
  let code;
  try {
    code = readFileSync(cached, 'utf8');
  } catch {
    swc ??= await import('@swc/core');
    code = (await swc.transform(text, { ...options, filename })).code;
    try {
      // Written whole under another name, then renamed: a reader never sees part of it.
      mkdirSync(cacheDir, { recursive: true });
      const part = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      writeFileSync(part, code);
      renameSync(part, cached);
    } catch {
      // No cache (read-only checkout, full disk): transpiled again next time.
    }
  }
  return { format: 'module', source: code, shortCircuit: true };
}
