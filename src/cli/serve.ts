/**
 * `berth serve <config>`: runs the registry until a signal. Owns the process's signals: SIGHUP
 * reloads, SIGTERM/SIGINT stop accepting, let requests in flight finish (30 s at most) and exit.
 */
import { mkdir } from 'node:fs/promises';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load-config.js';
import { claimStorage } from '../storage/server-claim.js';

/** `TRUST_PROXY`: "true" trusts any proxy; otherwise the addresses or CIDRs listed. */
function trustProxyFromEnvironment(): boolean | string[] | undefined {
  const value = (process.env.TRUST_PROXY ?? process.env.BERTH_TRUST_PROXY)?.trim();
  if (!value || value === 'false') return undefined;
  return value === 'true'
    ? true
    : value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
}

export async function serve(file: string): Promise<void> {
  const config = await loadConfig(file);
  await mkdir(config.storage.rootDirectory, { recursive: true, mode: 0o700 });
  const trustProxy = trustProxyFromEnvironment();
  const app = await buildApp(config, trustProxy === undefined ? {} : { trustProxy });
  const release = await claimStorage(config.storage.rootDirectory);
  app.addHook('onClose', release);
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const exit = (code: number) => {
      // pino buffers file output: flush it before the process ends.
      (app.log as { flush?: () => void }).flush?.();
      process.exit(code);
    };
    setTimeout(() => {
      app.log.error('graceful shutdown timed out');
      exit(1);
    }, 30_000).unref();
    // Sockets that finish their response become idle only after close began: keep closing those,
    // so a finished download does not hold the exit until its keep-alive times out.
    setInterval(() => app.server.closeIdleConnections(), 100).unref();
    app.close().then(
      () => exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'error while shutting down');
        exit(1);
      },
    );
  };
  process.on('SIGINT', close);
  process.on('SIGTERM', close);
  process.on('SIGHUP', () => void app.reloadConfig());
  await app.listen({ host: config.http.address, port: config.http.port });
}
