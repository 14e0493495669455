// The Erlang modules the tests run, in test/erl/*.erl (each file says what
// it does). The testing helpers compile them: `startErlNode`/`runErl` with
// `modules: [erlModule('bb_peer')]` (erlc of that OTP), or `erlWith(erlModule(...))`
// (compiled in memory).
import { fileURLToPath } from 'node:url';

/** The path of test/erl/`name`.erl. */
export function erlModule(name: string): string {
  return fileURLToPath(new URL(`../erl/${name}.erl`, import.meta.url));
}
