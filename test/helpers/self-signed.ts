/**
 * Self-signed certificates (each its own CA) made by openssl, for TLS on loopback in the tests:
 * a sink, an upstream, a token service, a client certificate.
 */
import path from 'node:path';
import { runTool } from './run-tool.js';

/** `name`.crt and `name`.key in `dir`, for `subject` (e.g. `/CN=127.0.0.1`) and `altNames` (e.g. `IP:127.0.0.1`). */
export async function selfSignedCertificate(dir: string, name: string, subject: string, altNames: string[] = []): Promise<{ certFile: string; keyFile: string }> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const extensions = altNames.length > 0 ? ['-addext', `subjectAltName=${altNames.join(',')}`] : [];
  await runTool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', subject, ...extensions, '-keyout', keyFile, '-out', certFile]);
  return { certFile, keyFile };
}
