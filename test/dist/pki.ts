// Test certificates made with the openssl CLI: certificate authorities, node
// certificates signed by them, and OTP ssl_dist option files (copied into a
// chroot root for the OTP 27/29 variants, which cannot see the host's /tmp).
// Everything lives in a temporary directory removed in teardown.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { promisify } from 'node:util';
import type { Teardownable } from '../../src/testing/index.js';

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

/** A key pair and its certificate, as files and as PEM text. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

/** A certificate authority that can sign node certificates. */
export interface Ca extends CertFiles {
  name: string;
}

/** A scratch directory for one test file's certificates. */
export class Pki {
  private constructor(readonly dir: string) {}

  static async create(t: Teardownable): Promise<Pki> {
    const dir = await mkdtemp(join(tmpdir(), 'bb-pki-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    return new Pki(dir);
  }

  /** A self-signed CA (EC P-256, valid two days). */
  async ca(name: string): Promise<Ca> {
    const key = `${name}.key`;
    const cert = `${name}.pem`;
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], this.dir);
    await openssl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name}`, '-days', '2', '-out', cert], this.dir);
    return { name, ...(await this.load(cert, key)) };
  }

  /**
   * A node certificate signed by `ca`, for TLS servers and clients alike.
   * `san` is the subjectAltName (default the loopback address as IP and as DNS
   * entry, the latter for OTP 25, which checks an IP host as a DNS name, and localhost),
   * `cn` the common name (default 127.0.0.1, as OTP node certificates carry the host).
   */
  async leaf(name: string, ca: Ca, o: { san?: string; cn?: string } = {}): Promise<CertFiles> {
    const key = `${name}.key`;
    const csr = `${name}.csr`;
    const cert = `${name}.pem`;
    const ext = `${name}.ext`;
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], this.dir);
    await openssl(['req', '-new', '-key', key, '-subj', `/CN=${o.cn ?? '127.0.0.1'}`, '-out', csr], this.dir);
    await writeFile(
      join(this.dir, ext),
      [
        `subjectAltName=${o.san ?? 'IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost'}`,
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature',
        'extendedKeyUsage=serverAuth,clientAuth',
        '',
      ].join('\n'),
    );
    await openssl(
      ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert],
      this.dir,
    );
    return this.load(cert, key);
  }

  private async load(cert: string, key: string): Promise<CertFiles> {
    const certFile = join(this.dir, cert);
    const keyFile = join(this.dir, key);
    return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
  }

  /**
   * Writes an OTP ssl_dist option file for an erl node that presents `node`
   * and trusts `ca`, verifying peers both ways (`verify_peer`,
   * `fail_if_no_peer_cert`), and returns the erl arguments that use it. For a
   * chroot `root`, the files are copied to ROOT/tmp/... and the paths are the
   * ones seen inside the root.
   */
  async erlArgs(t: Teardownable, tag: string, node: CertFiles, ca: Ca, root: string): Promise<string[]> {
    const inside = `/tmp/bb-tls-${tag}`;
    const hostDir = root ? join(root, inside) : join(this.dir, `erl-${tag}`);
    const seen = root ? inside : hostDir;
    await mkdir(hostDir, { recursive: true });
    if (root) t.teardown(() => rm(hostDir, { recursive: true, force: true }));
    for (const f of [node.certFile, node.keyFile, ca.certFile]) await copyFile(f, join(hostDir, basename(f)));
    const p = (f: string) => JSON.stringify(join(seen, basename(f)));
    const side = (extra: string) =>
      `[{certfile, ${p(node.certFile)}}, {keyfile, ${p(node.keyFile)}}, {cacertfile, ${p(ca.certFile)}}, {verify, verify_peer}${extra}]`;
    const conf = `[{server, ${side(', {fail_if_no_peer_cert, true}')}},\n {client, ${side('')}}].\n`;
    await writeFile(join(hostDir, 'ssl_dist.conf'), conf);
    return ['-proto_dist', 'inet_tls', '-ssl_dist_optfile', join(seen, 'ssl_dist.conf')];
  }
}
