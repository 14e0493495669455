# The reference ChatChannel semantics shared by the Python peer scripts and
# test/thrift/ref.ts: deterministic answers the other side can predict, and a
# canonical JSON form (i64 as decimal strings, maps as sorted [key, value] lists).
import time

from chat.ttypes import (ChatMessage, Typing, ChannelEvent, PollStatus, PollResult,
                         Presence, SlotRange, NotOnline, WrongPartition)


class RefHandler:
    def login(self, userId):
        if userId < 0:
            raise WrongPartition(userId=userId, owner='other@127.0.0.1', thriftPort=9999)
        return userId + 1

    def logout(self, userId):
        if userId < 0:
            raise WrongPartition(userId=userId, owner='other@127.0.0.1', thriftPort=9999)

    def send(self, fromId, toId, text, clientMsgId):
        if toId == 0:
            raise NotOnline(userId=toId)
        return ChatMessage(id=toId + 1, fromId=fromId, toId=toId, text=text + ' <' + clientMsgId + '>',
                           sentAtMs=1700000000000 + len(text), clientMsgId=clientMsgId or None)

    def typing(self, fromId, toId, active):
        if toId == 0:
            raise NotOnline(userId=toId)

    def poll(self, userId, afterSeq, timeoutMs):
        if afterSeq < 0:
            return PollResult(status=PollStatus.REFRESH, seq=100, events=[])
        if timeoutMs > 0:
            time.sleep(timeoutMs / 1000.0)
            return PollResult(status=PollStatus.CONTINUE, seq=afterSeq, events=[])
        msg = ChatMessage(id=7, fromId=userId + 1, toId=userId, text='hi', sentAtMs=1, clientMsgId=None)
        return PollResult(status=PollStatus.EVENTS, seq=afterSeq + 2, events=[
            ChannelEvent(seq=afterSeq + 1, message=msg),
            ChannelEvent(seq=afterSeq + 2, typing=Typing(fromId=userId + 1, toId=userId, active=True)),
        ])

    def touch(self, userId):
        pass

    def friendsPresence(self, userId):
        return [Presence(userId=userId + i, state=i % 3, idleSeconds=i * 60) for i in range(3)]

    def presence(self, userIds):
        return {u: u % 3 for u in userIds}

    def history(self, userId, peerId, limit):
        return [ChatMessage(id=i, fromId=userId, toId=peerId, text='m%d' % i, sentAtMs=i, clientMsgId='c%d' % i)
                for i in range(limit)]

    def partitionMap(self):
        return [SlotRange(first=0, last=511, node='a@127.0.0.1', thriftPort=9001),
                SlotRange(first=512, last=1023, node='b@127.0.0.1', thriftPort=9002)]


def canon_msg(m):
    out = {'id': str(m.id), 'fromId': str(m.fromId), 'toId': str(m.toId), 'text': m.text, 'sentAtMs': str(m.sentAtMs)}
    if m.clientMsgId is not None:
        out['clientMsgId'] = m.clientMsgId
    return out


def canon(method, v):
    """The canonical JSON-able form of a result of `method`."""
    if v is None:
        return None
    if method == 'login':
        return str(v)
    if method == 'send':
        return canon_msg(v)
    if method == 'poll':
        evs = []
        for e in v.events:
            x = {'seq': str(e.seq)}
            if e.message is not None:
                x['message'] = canon_msg(e.message)
            if e.typing is not None:
                x['typing'] = {'fromId': str(e.typing.fromId), 'toId': str(e.typing.toId), 'active': e.typing.active}
            evs.append(x)
        return {'status': v.status, 'seq': str(v.seq), 'events': evs}
    if method == 'friendsPresence':
        return [{'userId': str(p.userId), 'state': p.state, 'idleSeconds': p.idleSeconds} for p in v]
    if method == 'presence':
        return [[str(k), v[k]] for k in sorted(v)]
    if method == 'history':
        return [canon_msg(m) for m in v]
    if method == 'partitionMap':
        return [{'first': r.first, 'last': r.last, 'node': r.node, 'thriftPort': r.thriftPort} for r in v]
    raise ValueError(method)


def canon_exc(e):
    if isinstance(e, NotOnline):
        return {'exception': 'NotOnline', 'userId': str(e.userId)}
    if isinstance(e, WrongPartition):
        return {'exception': 'WrongPartition', 'userId': str(e.userId), 'owner': e.owner, 'thriftPort': e.thriftPort}
    return {'exception': type(e).__name__, 'message': str(e)}


# The calls both directions make: (method, args).
BIG = 2 ** 62 + 12345
CALLS = [
    ('login', [42]),
    ('login', [BIG]),
    ('login', [-5]),
    ('logout', [-1]),
    ('logout', [3]),
    ('send', [1, 2, 'hello', 'c-1']),
    ('send', [2 ** 63 - 1, 2 ** 53 + 1, 'grüße ✓', '']),
    ('send', [1, 0, 'nobody', 'c-2']),
    ('typing', [1, 2, True]),
    ('typing', [1, 0, False]),
    ('poll', [10, 5, 0]),
    ('poll', [10, -1, 0]),
    ('poll', [10, 5, 50]),
    ('touch', [10]),
    ('friendsPresence', [2 ** 60]),
    ('presence', [[1, 2, 3, 2 ** 53 + 1, 2 ** 53 + 2, 2 ** 63 - 1, -(2 ** 63), -7]]),
    ('presence', [[]]),
    ('history', [5, 6, 3]),
    ('partitionMap', []),
]
