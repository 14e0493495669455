// `beambridge/chat`: the chat tier. Today: the chat IDL's (idl/chat.thrift)
// generated types and Thrift clients, and the partition-aware cluster client.
export * from '../thrift/gen/chat.js';
export { ChatChannelCluster, slotOf, CHAT_SLOTS, type ChatChannelClusterOptions, type ClusterEndpoint } from '../thrift/cluster.js';
