# A Python (Debian python3-thrift) ChatChannel server for the Node client
# tests: framed transport, binary or compact, one thread per connection.
# Usage: server.py GEN_DIR PORT binary|compact   (prints "READY <port>")
import os
import sys
import threading

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from thrift.transport import TSocket, TTransport  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from chat import ChatChannel  # noqa: E402
from chat_ref import RefHandler  # noqa: E402

port = int(sys.argv[2])
factory = TCompactProtocol.TCompactProtocolFactory() if sys.argv[3] == 'compact' else TBinaryProtocol.TBinaryProtocolFactory()
processor = ChatChannel.Processor(RefHandler())
server = TSocket.TServerSocket(host='127.0.0.1', port=port)
server.listen()
print('READY %d' % port, flush=True)


def serve(client):
    trans = TTransport.TFramedTransport(client)
    prot = factory.getProtocol(trans)
    try:
        while True:
            processor.process(prot, prot)
    except (TTransport.TTransportException, EOFError, ConnectionError):
        pass
    except Exception as e:  # a malformed request: drop the connection, keep serving
        print('connection error: %r' % (e,), file=sys.stderr, flush=True)
    finally:
        trans.close()


while True:
    c = server.accept()
    if c is not None:
        threading.Thread(target=serve, args=(c,), daemon=True).start()
