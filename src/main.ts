#!/usr/bin/env node
/**
 * The `berth` command: `serve <config>` runs the registry, `verify <config>` checks a config.
 * This file owns argv, signals and exit codes; app.ts builds the server.
 */
import { mkdir } from 'node:fs/promises';
import { buildApp } from './app.js';
import { ConfigError } from './config/config.js';
import { loadConfig } from './config/load-config.js';
import { loadHtpasswd } from './auth/htpasswd.js';
import { printHtpasswdLine } from './auth/htpasswd-command.js';
import { runGc, runScrub } from './maintenance-commands.js';
import { claimStorage } from './storage/server-claim.js';

const USAGE = `usage: berth <command> <argument>

commands:
  serve <config>    run the registry with a zot.json config (SIGHUP reloads it)
  verify <config>   check a config and the files it names; exit 0 when they load, 1 with the reasons
  htpasswd <user>   print an htpasswd line (bcrypt) for <user>; the password is read from standard
                    input, or asked for twice on a terminal
  gc <config>       run one garbage collection and report what it removed and the bytes freed
                    (refused while a server uses the same storage: it collects by itself)
  scrub <config>    verify the digest and size of every manifest, config and layer; exit 1 when
                    any image is affected (read-only; safe next to a running server)`;

async function serve(file: string): Promise<void> {
  const config = await loadConfig(file);
  await mkdir(config.storage.rootDirectory, { recursive: true, mode: 0o700 });
  const app = await buildApp(config);
  const release = await claimStorage(config.storage.rootDirectory);
  app.addHook('onClose', release);
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      app.log.error('graceful shutdown timed out');
      process.exit(1);
    }, 30_000);
    timer.unref();
    // Sockets that finish their response become idle only after close began: keep closing those,
    // so a finished download does not hold the exit until its keep-alive times out.
    setInterval(() => app.server.closeIdleConnections(), 100).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', close);
  process.on('SIGTERM', close);
  process.on('SIGHUP', () => void app.reloadConfig());
  await app.listen({ host: config.http.address, port: config.http.port });
}

async function verify(file: string): Promise<void> {
  const config = await loadConfig(file);
  if (config.http.auth.htpasswdPath) await loadHtpasswd(config.http.auth.htpasswdPath);
  for (const warning of config.warnings) console.warn(`warning: ${warning}`);
  console.log(`${config.file}: ok`);
}

async function main(argv: string[]): Promise<number> {
  const [command, file, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 1 : 0;
  }
  const commands: Record<string, (argument: string) => Promise<number | void>> = { serve, verify, htpasswd: printHtpasswdLine, gc: runGc, scrub: runScrub };
  const run = commands[command];
  if (run && file !== undefined && rest.length === 0) {
    try {
      return (await run(file)) ?? 0;
    } catch (error) {
      if (error instanceof ConfigError) {
        for (const problem of error.problems) console.error(problem);
        return 1;
      }
      throw error;
    }
  }
  console.error(USAGE);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`berth: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
