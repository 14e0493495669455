// beambridge: Erlang's own protocols for Node.js. The public API.
export { BeamBridgeError } from './errors.js';
export * from './etf/index.js';
export * from './epmd/index.js';
export * from './dist/index.js';
export * from './node/index.js';
export * from './otp/index.js';
export * from './thrift/index.js';
