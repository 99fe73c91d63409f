/**
 * HTTPS from `http.tls` PEM files, re-read when they change so cert-manager renewals apply without a
 * restart. A renewal caught half-written (key and certificate not matching yet) is retried on the
 * next change and the previous pair stays in use.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Server } from 'node:https';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export function readTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

export function followTls(server: Server, files: TlsFiles, log: { info(message: string): void; error(message: string): void }): () => void {
  let timer: NodeJS.Timeout | undefined;
  const folders = [...new Set([path.dirname(files.certFile), path.dirname(files.keyFile)])];
  const reload = () => {
    try {
      const pair = readTls(files);
      createSecureContext(pair); // throws when the key does not match the certificate
      server.setSecureContext(pair);
      log.info(`${files.certFile}: TLS certificate reloaded`);
    } catch (error) {
      log.error(`${files.certFile}: keeping the previous TLS certificate: ${(error as Error).message}`);
    }
  };
  const watchers: FSWatcher[] = folders.map((folder) =>
    watch(folder, { persistent: false }, () => {
      clearTimeout(timer);
      timer = setTimeout(reload, 200);
    }),
  );
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
