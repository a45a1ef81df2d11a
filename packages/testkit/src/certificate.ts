import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM key and certificate pair. */
export interface CertificatePair {
  readonly key: string;
  readonly cert: string;
}

/**
 * A throwaway self-signed certificate for `127.0.0.1` and `localhost` (EC P-256, valid one day),
 * made with the `openssl` command line, for test servers that must speak HTTPS. Trust it by
 * passing `cert` as the client's CA.
 * @throws Error when `openssl` is not installed or fails.
 */
export function selfSignedCertificate(): CertificatePair {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cert-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
          '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
          '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
    } catch (err) {
      const why = (err as { code?: string }).code === 'ENOENT' ? 'openssl is not installed' : String((err as { stderr?: unknown }).stderr ?? err);
      throw new Error(`selfSignedCertificate: ${why}`);
    }
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
