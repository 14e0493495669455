# A Python (Debian python3-thrift) ChatChannel client for the Node server
# tests: makes every call in chat_ref.CALLS and prints one JSON line per call.
# Usage: client.py GEN_DIR PORT binary|compact
import json
import os
import sys

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from thrift.transport import TSocket, TTransport  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.Thrift import TApplicationException  # noqa: E402
from chat import ChatChannel  # noqa: E402
from chat.ttypes import NotOnline, WrongPartition  # noqa: E402
from chat_ref import CALLS, canon, canon_exc  # noqa: E402

sock = TSocket.TSocket('127.0.0.1', int(sys.argv[2]))
trans = TTransport.TFramedTransport(sock)
prot = TCompactProtocol.TCompactProtocol(trans) if sys.argv[3] == 'compact' else TBinaryProtocol.TBinaryProtocol(trans)
client = ChatChannel.Client(prot)
trans.open()
for method, args in CALLS:
    try:
        out = {'method': method, 'result': canon(method, getattr(client, method)(*args))}
    except (NotOnline, WrongPartition) as e:
        out = {'method': method, 'error': canon_exc(e)}
    except TApplicationException as e:
        out = {'method': method, 'error': {'exception': 'TApplicationException', 'type': e.type, 'message': e.message}}
    print(json.dumps(out, sort_keys=True), flush=True)
trans.close()
