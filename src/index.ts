// beambridge: Erlang's own protocols for Node.js. The public API.
export { BeamBridgeError } from './errors.js';
export * from './etf/index.js';
