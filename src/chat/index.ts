// `beambridge/chat`: the chat tier. One typed client contract, `ChatBackend`,
// for the Erlang chat channel servers, over Erlang distribution or Thrift;
// slot routing; typed errors; subscriptions; the HTTP long-poll gateway
// (`serveGateway`) and its chat page. Also the chat IDL's
// (idl/chat.thrift) generated types, codecs and Thrift client and server.
// Depends on src/otp and src/thrift (and below).
export * from '../thrift/gen/chat.js';
export * from './types.js';
export * from './errors.js';
export { CHAT_SLOTS, slotOf, toUserId } from './slot.js';
export { ChatCluster, type ChatClusterOptions } from './dist.js';
export { ChatChannelCluster, type ChatChannelClusterOptions, type ClusterEndpoint } from './thrift.js';
export type { ClusterClientOptions } from './base.js';
export type { PollSubscriptionOptions } from './thrift-subscribe.js';
export * from './gateway/index.js';
