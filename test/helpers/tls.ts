import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './daemon.js';

/** A throw-away self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
export async function selfSignedCert(): Promise<{ cert: string; key: string; ca: Buffer }> {
  const dir = await tempDir();
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
  ]);
  return { cert, key, ca: await readFile(cert) };
}
