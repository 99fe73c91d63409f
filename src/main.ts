#!/usr/bin/env node
/**
 * The `berth` command: `serve <config>` runs the registry, `verify <config>` checks a config.
 * This file owns argv, signals and exit codes; app.ts builds the server.
 */
import { mkdir } from 'node:fs/promises';
import { buildApp } from './app.js';
import { ConfigError } from './config/config.js';
import { loadConfig } from './config/load-config.js';

const USAGE = `usage: berth <command> <config>

commands:
  serve <config>    run the registry with a zot.json config
  verify <config>   check a config; exit 0 when it loads, 1 with the reasons when not`;

async function serve(file: string): Promise<void> {
  const config = await loadConfig(file);
  await mkdir(config.storage.rootDirectory, { recursive: true, mode: 0o700 });
  const app = await buildApp(config);
  let closing = false;
  const close = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      app.log.error('graceful shutdown timed out');
      process.exit(1);
    }, 10_000);
    timer.unref();
    // Idle keep-alive sockets are closed at once; busy ones get a few seconds to finish.
    setTimeout(() => app.server.closeAllConnections(), 5_000).unref();
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
  await app.listen({ host: config.http.address, port: config.http.port });
}

async function verify(file: string): Promise<void> {
  const config = await loadConfig(file);
  for (const warning of config.warnings) console.warn(`warning: ${warning}`);
  console.log(`${config.file}: ok`);
}

async function main(argv: string[]): Promise<number> {
  const [command, file, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 1 : 0;
  }
  if ((command === 'serve' || command === 'verify') && file !== undefined && rest.length === 0) {
    try {
      await (command === 'serve' ? serve(file) : verify(file));
      return 0;
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
    console.error(error);
    process.exitCode = 1;
  },
);
