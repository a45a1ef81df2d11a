/**
 * A Redis that speaks only TLS, for the `rediss://` tests: a throwaway PKI made with the `openssl`
 * command line (a CA, a server certificate, a client certificate for mutual TLS, and a second CA
 * that signed nothing the server shows) and Debian's `redis-server` started on a free loopback
 * port with `--port 0 --tls-port P`, so a plain-TCP client cannot reach it by mistake.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, freePort } from '@breachwave/testkit';

/** The name the server certificate carries (and only this name: no IP address). */
export const TLS_SERVER_NAME = 'redis.bw.test';

/** Paths of a test PKI: PEM files in `dir`. */
export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed nothing the server shows: trusting it alone must fail the handshake. */
  readonly otherCaCert: string;
}

/** Why a TLS Redis cannot be had here, or undefined when it can (tests skip loudly with it). */
export function tlsRedisUnavailable(): string | undefined {
  if (!existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server is not installed (apt-get install redis-server)';
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'openssl is not installed (apt-get install openssl)';
  }
  return undefined;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** EC P-256 keys (fast to make), certificates valid one day. */
export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'bw-redis-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    openssl(['req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=breachwave test ${ca}`], dir);
  }
  const sign = (name: string, subject: string, ext: string): void => {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`], dir);
  };
  sign('server', `/CN=${TLS_SERVER_NAME}`, `subjectAltName=DNS:${TLS_SERVER_NAME}\nextendedKeyUsage=serverAuth\n`);
  sign('client', '/CN=breachwave', 'extendedKeyUsage=clientAuth\n');
  const p = (f: string): string => join(dir, f);
  return {
    dir, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key'),
    clientCert: p('client.crt'), clientKey: p('client.key'), otherCaCert: p('other-ca.crt'),
  };
}

/** A running TLS-only Redis. */
export interface TlsRedis {
  readonly port: number;
  /** `rediss://127.0.0.1:PORT` */
  readonly url: string;
  readonly pki: TestPki;
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` with TLS only on a free loopback port, requiring client certificates
 * (`tls-auth-clients yes`), `maxmemory-policy noeviction` as breachwave checks at start, and
 * nothing on disk. Resolves once `redis-cli --tls` gets PONG.
 */
export async function startTlsRedis(pki: TestPki = makePki()): Promise<TlsRedis> {
  const port = await freePort();
  const child: ChildProcess = spawn('/usr/bin/redis-server', [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', pki.serverCert, '--tls-key-file', pki.serverKey, '--tls-ca-cert-file', pki.caCert,
    '--tls-auth-clients', 'yes', '--maxmemory-policy', 'noeviction', '--save', '', '--appendonly', 'no', '--dir', pki.dir,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ping = (): boolean => {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}):\n${output.slice(-2000)}`);
    try {
      const out = execFileSync('redis-cli', [
        '--tls', '--cacert', pki.caCert, '--cert', pki.clientCert, '--key', pki.clientKey, '--sni', TLS_SERVER_NAME,
        '-h', '127.0.0.1', '-p', String(port), 'PING',
      ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
      return out.trim() === 'PONG';
    } catch {
      return false;
    }
  };
  await waitFor(ping, { timeout: 20_000, interval: 50, what: `TLS redis-server on 127.0.0.1:${port} answers PONG` });
  return {
    port,
    url: `rediss://127.0.0.1:${port}`,
    pki,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}
