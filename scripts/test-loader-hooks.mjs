// ESM loader hooks for the tests (registered by test-loader.mjs):
// - resolve: a relative `.js` import that does not exist is the `.ts` next to it
//   (the NodeNext convention the sources use: `import '../src/x.js'` means x.ts);
// - load: a `.ts` file outside node_modules is transpiled by SWC with the options
//   tsconfig.json implies (ES2022, ES modules, strict, class names kept), with an
//   inline source map, so stack traces and coverage point at the TypeScript.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from '@swc/core';

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
  const { code } = await transform(await readFile(filename, 'utf8'), { ...options, filename });
  return { format: 'module', source: code, shortCircuit: true };
}
