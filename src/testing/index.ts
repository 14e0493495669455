/**
 * `beambridge/testing`: real Erlang in your integration tests, with any test
 * runner (tap, node:test, or none).
 *
 * - {@link startEpmd}: an epmd on a free port.
 * - {@link startErlNode}: an `erl` node registered there (optionally with your
 *   own `.erl` modules compiled and loaded), started and stopped by pid.
 * - {@link startStub} / {@link startStubCluster}: the chat stub that ships
 *   in the package (erlang-stub/), built with erlc on first use.
 *
 * Pass the test as the first argument (tap's `t`, node:test's `t`) and the
 * processes stop when it ends; without one, call `stop()`. Every process a
 * helper started is also stopped when this process exits, or is ended by
 * SIGINT, SIGTERM or SIGHUP. Nothing here ever ends a process it did not
 * start, and nothing is found by name.
 *
 * Erlang must be installed (`erl`, `erlc`, `epmd` on the PATH); the stub
 * also needs `make` and `flock`.
 */
// Process launching (epmd, the stub, processes by pid) lives one layer down in
// src/procs/, which the shipped CLI uses too; this entry re-exports it and adds
// what only tests need (erl nodes with compiled modules, erlc, socket pairs).
export {
  freePort,
  startProcess,
  waitForPort,
  onTestEnd,
  type TestContext,
  type Teardownable,
  type Started,
  type StartOptions,
} from '../procs/process.js';
export { socketPair } from './sockets.js';
export { startEpmd, erlCommand, otpRoot, isTestContext } from '../procs/erl.js';
export { startErlNode, runErl, erlWith, compileErl, otpVariants, type ErlNodeOptions, type OtpVariant } from './erl.js';
export {
  startStub,
  startStubCluster,
  buildStub,
  stubEbinDir,
  controlCommand,
  randomCookie,
  splitSlots,
  STUB_DIR,
  STUB_BIN,
  type StubOptions,
  type StubNode,
  type StubReady,
  type ControlReply,
} from '../procs/stub.js';
