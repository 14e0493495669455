// TLS distribution, interoperable with OTP's ssl_dist (`erl -proto_dist
// inet_tls -ssl_dist_optfile F`): TLS starts right after the TCP connect and
// before the distribution handshake; EPMD is unchanged. One difference on the
// wire besides the encryption: OTP opens its ssl socket with `{packet, 4}`
// (inet_tls_dist), so over TLS every handshake message carries a 4-byte length
// instead of the 2 bytes of erl_dist_protocol "Distribution Handshake". After
// the handshake the frames are the same as over TCP. The handshake functions
// call these helpers when given a `tls` option.
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { deadline } from '../deadline.js';
import { DistError } from './errors.js';

/**
 * TLS settings of a node's distribution, used for both directions. The
 * certificate fields are those of `tls.createSecureContext` (`ca`, `cert`,
 * `key`, `passphrase`, `pfx`, `ciphers`, `minVersion`, ...), as in OTP's
 * ssl_dist option file (`cacertfile`, `certfile`, `keyfile`).
 *
 * Defaults, which check certificates in both directions as an OTP TLS cluster
 * configured with `{verify, verify_peer}` and `{fail_if_no_peer_cert, true}`:
 * - dialing: the peer's chain must lead to `ca` (or, without `ca`, to Node's
 *   default roots), and the certificate must match the host part of the node
 *   name we dial (`Node.tls.checkServerIdentity`: a DNS host against the DNS
 *   subjectAltNames, or the CN when there are none; an IP address against the
 *   IP subjectAltNames). A node `app@10.0.0.5` therefore needs
 *   `subjectAltName=IP:10.0.0.5`; `app@db1.example` needs `DNS:db1.example` or
 *   CN `db1.example`. OTP checks the same host (its server_name_indication is
 *   the node's host). Change it with `client.checkServerIdentity`.
 *   Interop note: OTP 25 checks an IP host as a DNS name (OTP 27 and later
 *   also accept the IP entry), so a certificate for `app@10.0.0.5` that OTP 25
 *   nodes must accept needs both `IP:10.0.0.5` (for Node) and `DNS:10.0.0.5`.
 * - accepting: the dialing node must present a certificate whose chain leads
 *   to `ca`; its host is not compared with its node name unless
 *   {@link verifyClientHost} is set (OTP does not compare it either).
 * The cookie is still checked after TLS, exactly as over TCP. The dialing
 * side reads an options object once (its secure context is cached): give a new
 * object to change certificates.
 */
export interface DistTlsOptions extends tls.SecureContextOptions {
  /** Refuse a peer certificate that does not verify; default true. */
  rejectUnauthorized?: boolean;
  /** Accepting: ask the dialing node for a certificate and refuse it without one (OTP's `fail_if_no_peer_cert`); default true. */
  requestCert?: boolean;
  /**
   * Accepting: refuse (with `not_allowed` and `ERR_TLS`) a node whose
   * certificate does not match the host part of the node name it sends in its
   * handshake (the same rule as {@link tls.checkServerIdentity}); default false.
   */
  verifyClientHost?: boolean;
  /** Extra `tls.connect` options when dialing (e.g. `checkServerIdentity`, `servername`, `ALPNProtocols`). */
  client?: Omit<tls.ConnectionOptions, 'socket' | 'port' | 'path' | 'secureContext'>;
  /** Extra `tls.Server` options when accepting. */
  server?: Omit<tls.TlsOptions, 'requestCert' | 'rejectUnauthorized'>;
}

function ignore(): void {}

/** Certificate material from the options (the shared part of both directions). */
function contextOptions(o: DistTlsOptions): tls.SecureContextOptions {
  const { rejectUnauthorized: _r, requestCert: _q, verifyClientHost: _v, client: _c, server: _s, ...ctx } = o;
  return ctx;
}

// One secure context per options object: keys and certificates are parsed
// once, not on every dial (so an options object is read once; pass a new one
// to change certificates).
const clientContexts = new WeakMap<DistTlsOptions, tls.SecureContext>();

function clientContext(o: DistTlsOptions): tls.SecureContext {
  let c = clientContexts.get(o);
  if (!c) {
    c = tls.createSecureContext(contextOptions(o));
    clientContexts.set(o, c);
  }
  return c;
}

/** Options of the TLS steps. */
export interface TlsStepOptions {
  /** The step's deadline in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A readable message for a TLS failure, with OpenSSL's reason when there is one. */
function describe(e: Error & { code?: string; reason?: string }): string {
  return e.reason && !e.message.includes(e.reason) ? `${e.message} (${e.reason})` : e.message;
}

/** OpenSSL's codes for bytes that are not a TLS record at all: the peer speaks plain distribution. */
const NOT_TLS = /WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|HTTP_REQUEST|PACKET_LENGTH_TOO_LONG|RECORD_LENGTH_MISMATCH/;

/** The hint for a node that dialed us or that we dialed and that does not seem to speak TLS. */
export const PLAIN_PEER_HINT =
  'the peer does not speak TLS distribution: give both nodes TLS (erl: -proto_dist inet_tls) or neither';

/**
 * Dialing side: starts TLS as a client on a connected TCP socket and resolves
 * with the TLS socket once the server's certificate checked out (see
 * {@link DistTlsOptions} for the identity rule; `host` is the host part of the
 * node name we dial). Rejects with `ERR_TLS`, `ERR_HANDSHAKE_TIMEOUT` or
 * `ERR_ABORTED`, and destroys the socket.
 */
export function tlsConnect(raw: Socket, host: string, o: DistTlsOptions, step: TlsStepOptions): Promise<tls.TLSSocket> {
  raw.on('error', ignore);
  let sock: tls.TLSSocket;
  try {
    sock = tls.connect({
      ...o.client,
      socket: raw,
      host,
      servername: o.client?.servername ?? (isIP(host) === 0 ? host : undefined),
      secureContext: clientContext(o),
      rejectUnauthorized: o.rejectUnauthorized ?? true,
    });
  } catch (e) {
    raw.destroy();
    return Promise.reject(new DistError('ERR_TLS', `TLS setup failed: ${(e as Error).message}`, { cause: e }));
  }
  return new Promise((resolve, reject) => {
    const done = (err?: DistError) => {
      d.clear();
      sock.removeListener('secureConnect', onSecure);
      sock.removeListener('close', onClose);
      sock.removeListener('error', onError);
      if (err) {
        sock.destroy();
        raw.destroy();
        reject(err);
      } else resolve(sock);
    };
    const onSecure = () => done();
    const onError = (e: Error & { code?: string }) => {
      const code = e.code ?? '';
      // A plain node closes (or resets) the connection on our ClientHello.
      const hint = NOT_TLS.test(code) ? `; ${PLAIN_PEER_HINT}` : code === 'ECONNRESET' ? `; it refused our certificate, or ${PLAIN_PEER_HINT}` : '';
      done(new DistError('ERR_TLS', `TLS handshake with the server failed: ${describe(e)}${hint}`, { cause: e }));
    };
    const onClose = () =>
      done(new DistError('ERR_TLS', `connection closed during the TLS handshake with the server: it refused our certificate, or ${PLAIN_PEER_HINT}`));
    sock.on('error', ignore); // permanent: errors after the step belong to the connection
    sock.once('error', onError);
    sock.once('close', onClose);
    sock.once('secureConnect', onSecure);
    const d = deadline(
      step,
      // A plain OTP node reads our ClientHello as the length of a handshake message and waits for the rest.
      () => done(new DistError('ERR_HANDSHAKE_TIMEOUT', `TLS handshake with the server took over ${step.timeoutMs} ms; perhaps ${PLAIN_PEER_HINT}`)),
      (reason) => done(new DistError('ERR_ABORTED', 'TLS handshake aborted', { cause: reason })),
    );
  });
}

/**
 * Accepting side: starts TLS as a server on an accepted TCP socket and
 * resolves with the TLS socket once the client's certificate (when requested)
 * checked out. Rejects with `ERR_TLS` (the message carries OpenSSL's reason,
 * e.g. `UNABLE_TO_VERIFY_LEAF_SIGNATURE` for a certificate from another CA),
 * `ERR_HANDSHAKE_TIMEOUT` or `ERR_ABORTED`, and destroys the socket.
 */
export function tlsAccept(raw: Socket, o: DistTlsOptions, step: TlsStepOptions): Promise<tls.TLSSocket> {
  raw.on('error', ignore);
  const requestCert = o.requestCert ?? true;
  const rejectUnauthorized = o.rejectUnauthorized ?? true;
  return new Promise((resolve, reject) => {
    // A tls.Server that never listens, fed this one socket through its
    // documented 'connection' injection: unlike a bare server-side TLSSocket,
    // it reports `authorized` / `authorizationError` for the client certificate.
    // Every event of this server is about this socket.
    let server: tls.Server;
    try {
      server = new tls.Server({
        ...o.server,
        ...contextOptions(o),
        requestCert,
        rejectUnauthorized: false,
        handshakeTimeout: step.timeoutMs + 1000,
      });
    } catch (e) {
      raw.destroy();
      reject(new DistError('ERR_TLS', `TLS setup failed: ${(e as Error).message}`, { cause: e }));
      return;
    }
    let settled = false;
    const done = (err: DistError | undefined, sock?: tls.TLSSocket) => {
      if (settled) return;
      settled = true;
      d.clear();
      raw.removeListener('close', onRawClose);
      server.removeAllListeners('secureConnection');
      server.removeAllListeners('tlsClientError');
      if (err || !sock) {
        sock?.destroy();
        raw.destroy();
        reject(err);
      } else {
        sock.on('error', ignore); // permanent: later errors belong to the connection
        resolve(sock);
      }
    };
    const onRawClose = () => done(new DistError('ERR_TLS', 'connection closed during the TLS handshake with the client'));
    server.on('secureConnection', (sock: tls.TLSSocket) => {
      if (requestCert && rejectUnauthorized && !sock.authorized) {
        const why = sock.authorizationError === undefined ? 'none presented' : String(sock.authorizationError);
        done(new DistError('ERR_TLS', `client certificate refused: ${why}`), sock);
      } else done(undefined, sock);
    });
    server.on('tlsClientError', (e: Error & { code?: string }, sock: tls.TLSSocket) =>
      done(
        new DistError(
          'ERR_TLS',
          `TLS handshake with the client failed: ${describe(e)}${NOT_TLS.test(e.code ?? '') ? `; ${PLAIN_PEER_HINT}` : ''}`,
          { cause: e },
        ),
        sock,
      ),
    );
    raw.once('close', onRawClose);
    const d = deadline(
      step,
      () => done(new DistError('ERR_HANDSHAKE_TIMEOUT', `TLS handshake with the client took over ${step.timeoutMs} ms`)),
      (reason) => done(new DistError('ERR_ABORTED', 'TLS handshake aborted', { cause: reason })),
    );
    if (!settled) server.emit('connection', raw);
  });
}

/**
 * Checks a TLS peer's certificate against `host` (the host part of the node
 * name it claims), by the rule of {@link tls.checkServerIdentity}. Returns the
 * mismatch, or undefined when it matches.
 */
export function checkPeerHost(sock: tls.TLSSocket, host: string): Error | undefined {
  const cert = sock.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return new Error('the peer presented no certificate');
  return tls.checkServerIdentity(host, cert);
}
