/**
 * A throwaway NATS server for tests: Debian's `nats-server` as a child process on a free loopback
 * port (no JetStream, no config file), ready once a client can connect; `stop()` in an afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'nats';
import { freePort } from './redis-server.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export interface NatsServer {
  /** nats://127.0.0.1:PORT */
  url: string;
  stop(): Promise<void>;
}

export async function startNats(): Promise<NatsServer> {
  const port = await freePort();
  const child: ChildProcess = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  const until = Date.now() + 15_000;
  for (;;) {
    try {
      const probe = await connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 1000 });
      await probe.close();
      break;
    } catch (error) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`nats-server did not start: ${String(error)}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
