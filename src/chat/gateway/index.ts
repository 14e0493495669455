// The long-poll HTTP gateway and the chat page (exported from `beambridge/chat`).
export { serveGateway, acceptKnownUsers } from './gateway.js';
export type { Gateway, GatewayOptions, GatewayStats, GatewayRequest, Authenticate } from './options.js';
export type { RateLimit, Revocation, RevocationStore } from './session.js';
