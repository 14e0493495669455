// The contract between beambridge and the Erlang chat channel servers.
// Field ids and names are fixed: the Erlang stub (erlang-stub/) and the
// TypeScript clients (src/thrift/gen, src/chat/) are built against this file.
namespace py chat
namespace js chat

enum PresenceState { OFFLINE = 0, IDLE = 1, ONLINE = 2 }

struct ChatMessage {
  1: i64 id,
  2: i64 fromId,
  3: i64 toId,
  4: string text,
  5: i64 sentAtMs,
  6: optional string clientMsgId
}

struct Typing { 1: i64 fromId, 2: i64 toId, 3: bool active }

struct ChannelEvent { 1: i64 seq, 2: optional ChatMessage message, 3: optional Typing typing }

enum PollStatus { EVENTS = 0, CONTINUE = 1, REFRESH = 2 }

struct PollResult { 1: PollStatus status, 2: i64 seq, 3: list<ChannelEvent> events }

struct Presence { 1: i64 userId, 2: PresenceState state, 3: i32 idleSeconds }

struct SlotRange { 1: i32 first, 2: i32 last, 3: string node, 4: i32 thriftPort }

exception NotOnline { 1: i64 userId }

exception WrongPartition { 1: i64 userId, 2: string owner, 3: i32 thriftPort }

service ChatChannel {
  i64 login(1: i64 userId) throws (1: WrongPartition wp)
  void logout(1: i64 userId) throws (1: WrongPartition wp)
  ChatMessage send(1: i64 fromId, 2: i64 toId, 3: string text, 4: string clientMsgId)
    throws (1: NotOnline no, 2: WrongPartition wp)
  void typing(1: i64 fromId, 2: i64 toId, 3: bool active) throws (1: NotOnline no, 2: WrongPartition wp)
  PollResult poll(1: i64 userId, 2: i64 afterSeq, 3: i32 timeoutMs) throws (1: WrongPartition wp)
  void touch(1: i64 userId) throws (1: WrongPartition wp)
  list<Presence> friendsPresence(1: i64 userId) throws (1: WrongPartition wp)
  map<i64, PresenceState> presence(1: list<i64> userIds)
  list<ChatMessage> history(1: i64 userId, 2: i64 peerId, 3: i32 limit) throws (1: WrongPartition wp)
  list<SlotRange> partitionMap()
  // The user's whole friend list, ascending, online or not (any node answers).
  list<i64> friends(1: i64 userId)
}
