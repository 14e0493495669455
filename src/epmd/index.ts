// The EPMD layer: a client (ALIVE2 registration kept alive, PORT_PLEASE2,
// NAMES) and an embedded server. Depends only on src/errors.ts.
export { EpmdError, type EpmdErrorCode } from './errors.js';
export {
  EPMD,
  EPMD_DEFAULT_PORT,
  NODE_TYPE_NORMAL,
  NODE_TYPE_HIDDEN,
  PROTOCOL_TCP,
  DIST_VERSION_HIGH,
  DIST_VERSION_LOW,
  type EpmdNodeInfo,
  type EpmdNameEntry,
} from './protocol.js';
export {
  EpmdClient,
  EpmdRegistration,
  registrationBackoff,
  type EpmdClientOptions,
  type EpmdCallOptions,
  type EpmdRegisterOptions,
  type EpmdRegistrationState,
} from './client.js';
export { EpmdServer, type EpmdServerOptions, type EpmdRegistrationInfo } from './server.js';
