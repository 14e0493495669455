#!/usr/bin/python3
"""An independent Thrift peer for the chat stub: Debian's python3-thrift.

Runs the interop scenario against a stub and prints a normalised transcript
as one JSON document. The Erlang client runs the same scenario
(erlang-stub/test/chat_interop_scenario.erl); the tap test
(test/stub/thrift-interop.test.ts) checks that the two transcripts are equal.

Usage: /usr/bin/python3 thrift_interop.py GEN_DIR PORT PROTOCOL TRANSPORT BASE
       /usr/bin/python3 thrift_interop.py GEN_DIR PORT PROTOCOL TRANSPORT login USER
The second form only logs USER in and prints that one result (the cluster
test uses it to check WrongPartition routing).
  GEN_DIR    output of `thrift --gen py -out GEN_DIR idl/chat.thrift`
  PROTOCOL   binary | compact
  TRANSPORT  framed | buffered
  BASE       user ids BASE+1.. are used (their slots must be owned by the
             stub, and slot (BASE + 921) mod 1024 must not be)

Normalisation: user ids are written relative to BASE as strings; other ids
as decimal strings (JSON numbers lose precision above 2^53); message ids
become m1, m2, ... in order of first appearance; timestamps become "ts-ok"
when within a minute of the run.
"""
import json
import sys
import time


def main():
    gen_dir, port, protocol, transport = sys.argv[1:5]
    port = int(port)
    single = sys.argv[5] == 'login'
    base = 0 if single else int(sys.argv[5])
    sys.path.insert(0, gen_dir)

    from thrift.Thrift import TApplicationException, TMessageType
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.transport import TSocket, TTransport
    from chat import ChatChannel
    from chat.ttypes import NotOnline, WrongPartition

    sock = TSocket.TSocket('127.0.0.1', port)
    trans = TTransport.TFramedTransport(sock) if transport == 'framed' else TTransport.TBufferedTransport(sock)
    proto = (TBinaryProtocol.TBinaryProtocol(trans) if protocol == 'binary'
             else TCompactProtocol.TCompactProtocol(trans))
    client = ChatChannel.Client(proto)
    trans.open()
    start_ms = int(time.time() * 1000)
    msg_names = {}

    def uid(u):
        return str(u - base) if base < u <= base + 1024 else str(u)

    def ts(t):
        return 'ts-ok' if start_ms - 60000 <= t <= int(time.time() * 1000) + 60000 else 'ts-bad'

    def mid(i):
        if i not in msg_names:
            msg_names[i] = 'm%d' % (len(msg_names) + 1)
        return msg_names[i]

    def message(m):
        return {'id': mid(m.id), 'fromId': uid(m.fromId), 'toId': uid(m.toId), 'text': m.text,
                'sentAtMs': ts(m.sentAtMs), 'clientMsgId': m.clientMsgId}

    def event(e):
        out = {'seq': str(e.seq)}
        if e.message is not None:
            out['message'] = message(e.message)
        if e.typing is not None:
            out['typing'] = {'fromId': uid(e.typing.fromId), 'toId': uid(e.typing.toId),
                             'active': e.typing.active}
        return out

    def poll_result(r):
        return {'status': r.status, 'seq': str(r.seq), 'events': [event(e) for e in r.events]}

    def run(fn):
        try:
            return {'ok': fn()}
        except NotOnline as e:
            return {'NotOnline': {'userId': uid(e.userId)}}
        except WrongPartition as e:
            return {'WrongPartition': {'userId': uid(e.userId), 'owner': e.owner, 'thriftPort': e.thriftPort}}
        except TApplicationException as e:
            return {'TApplicationException': {'type': e.type}}

    if single:
        print(json.dumps(run(lambda: client.login(int(sys.argv[6])))))
        trans.close()
        return

    a, b, c = base + 1, base + 2, base + 3
    unowned = base + 921
    big = [(1 << 53) + 1, 1 << 62, (1 << 63) - 1, -(1 << 63)]
    steps = []

    def step(name, fn):
        steps.append({'step': name, 'result': run(fn)})

    step('login a', lambda: client.login(a))
    step('login b', lambda: client.login(b))
    step('send a->b', lambda: message(client.send(a, b, 'h\u00e9llo \u2713', 'cid-1')))
    step('send a->b again', lambda: message(client.send(a, b, 'h\u00e9llo \u2713', 'cid-1')))
    step('send a->b no id', lambda: message(client.send(a, b, 'second', '')))
    step('send a->c offline', lambda: message(client.send(a, c, 'x', '')))
    step('typing a->b', lambda: client.typing(a, b, True))
    step('poll b events', lambda: poll_result(client.poll(b, 0, 1000)))
    step('poll b ahead', lambda: poll_result(client.poll(b, 99, 1000)))
    step('poll b continue', lambda: poll_result(client.poll(b, 3, 20)))
    step('poll a echo', lambda: poll_result(client.poll(a, 0, 1000)))
    step('touch a', lambda: client.touch(a))
    step('history b a', lambda: [message(m) for m in client.history(b, a, 10)])
    step('history a b last', lambda: [message(m) for m in client.history(a, b, 1)])
    step('presence', lambda: {uid(k): v for k, v in sorted(client.presence([a, b, c] + big).items())})
    step('friendsPresence a', lambda: [[uid(p.userId), p.state] for p in client.friendsPresence(a)])
    step('friends a', lambda: [uid(f) for f in client.friends(a)])
    step('login unowned', lambda: client.login(unowned))
    step('send from unowned', lambda: message(client.send(unowned, a, 'x', '')))
    step('partitionMap', lambda: [[r.first, r.last, r.node, r.thriftPort] for r in client.partitionMap()])

    # An unknown method, written by hand with the same protocol objects.
    def unknown():
        proto.writeMessageBegin('noSuchMethod', TMessageType.CALL, 4242)
        proto.writeStructBegin('args')
        proto.writeFieldStop()
        proto.writeStructEnd()
        proto.writeMessageEnd()
        trans.flush()
        name, mtype, seqid = proto.readMessageBegin()
        x = TApplicationException()
        x.read(proto)
        proto.readMessageEnd()
        return {'name': name, 'messageType': mtype, 'seqid': seqid, 'type': x.type}
    step('unknown method', unknown)
    step('logout b', lambda: client.logout(b))
    step('send a->b after logout', lambda: message(client.send(a, b, 'x', '')))
    trans.close()
    print(json.dumps(steps, sort_keys=True))


if __name__ == '__main__':
    main()
