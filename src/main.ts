#!/usr/bin/env node
/**
 * The `berth` command. This file owns argv, environment, signals and exit codes; app.ts builds the
 * server and the maintenance commands live in maintenance-commands.ts.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { buildApp } from './app.js';
import { ConfigError } from './config/config.js';
import { loadConfig } from './config/load-config.js';
import { loadHtpasswd } from './auth/htpasswd.js';
import { printHtpasswdLine } from './auth/htpasswd-command.js';
import { checkProvider } from './auth/oidc-discovery.js';
import { runGc, runScrub } from './maintenance-commands.js';
import { runUsersCommand, USERS_USAGE } from './users-command.js';
import { claimStorage } from './storage/server-claim.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Command {
  /** The operands, as usage shows them. */
  argument: string;
  help: string;
  /** How many operands it takes (default 1). */
  operands?: number;
  run(...operands: string[]): Promise<number | void>;
}

const COMMANDS: Record<string, Command> = {
  serve: {
    argument: '<config>',
    help: `Runs the registry with a zot.json config. SIGHUP (or editing the file) reloads what can change
live; SIGTERM stops accepting, lets requests in flight finish (30 s at most) and exits.
Environment: TRUST_PROXY=true, or a comma-separated list of proxy addresses/CIDRs, makes
X-Forwarded-For/-Proto/-Host count from those proxies only.`,
    run: serve,
  },
  verify: {
    argument: '<config>',
    help: `Checks a config and the files it names; exits 0 when they load, 1 with one line per problem.
Each OpenID provider is discovered once (5 s at most): endpoints Berth would refuse are problems,
endpoints it will call over plain http are named, and a provider it cannot reach is a warning.`,
    run: verify,
  },
  htpasswd: {
    argument: '<user>',
    help: 'Prints an htpasswd line (bcrypt) for <user>; the password comes from standard input, or is asked for twice on a terminal.',
    run: printHtpasswdLine,
  },
  gc: {
    argument: '<config>',
    help: 'Runs one garbage collection and reports what it removed and the bytes freed. Refused while a server uses the same storage: it collects by itself.',
    run: runGc,
  },
  scrub: {
    argument: '<config>',
    help: 'Verifies the digest and size of every manifest, config and layer; exits 1 when any image is affected. Read-only: safe next to a running server.',
    run: runScrub,
  },
  users: {
    argument: USERS_USAGE,
    help: `Frees a provider user name bound to the provider's subject that first signed in with it
(a user renamed at the provider cannot take a name someone else used): removes the binding, so
the name's sessions end and its next sign-in binds it anew, and revokes the name's API keys.
Works beside running servers when sessions are in Redis; otherwise stop the server first.`,
    operands: 3,
    run: (...operands) => runUsersCommand(operands),
  },
};

const USAGE = `usage: berth <command> <argument>   (berth <command> --help, berth --version)

commands:
${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${`${name} ${command.argument}`.padEnd(32)}${command.help.split('\n')[0]!.split('. ')[0]}`)
  .join('\n')}`;

/** `TRUST_PROXY`: "true" trusts any proxy; otherwise the addresses or CIDRs listed. */
function trustProxyFromEnvironment(): boolean | string[] | undefined {
  const value = (process.env.TRUST_PROXY ?? process.env.BERTH_TRUST_PROXY)?.trim();
  if (!value || value === 'false') return undefined;
  return value === 'true' ? true : value.split(',').map((item) => item.trim()).filter(Boolean);
}

async function serve(file: string): Promise<void> {
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

async function verify(file: string): Promise<number> {
  const config = await loadConfig(file);
  if (config.http.auth.htpasswdPath) await loadHtpasswd(config.http.auth.htpasswdPath);
  for (const warning of config.warnings) console.warn(`warning: ${warning}`);
  const providers = config.http.auth.openid?.providers ?? [];
  const reports = await Promise.all(providers.map((provider) => checkProvider(provider, `${config.file}: /http/auth/openid/providers/${provider.key}`)));
  for (const report of reports) {
    for (const note of report.notes) console.log(note);
    for (const warning of report.warnings) console.warn(`warning: ${warning}`);
    for (const problem of report.problems) console.error(problem);
  }
  if (reports.some((report) => report.problems.length > 0)) return 1;
  console.log(`${config.file}: ok`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, argument, ...more] = argv;
  if (name === '--version' || name === '-v') {
    console.log(`berth ${VERSION}`);
    return 0;
  }
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS[name];
  if (command && (argument === '--help' || argument === '-h')) {
    console.log(`usage: berth ${name} ${command.argument}\n\n${command.help}`);
    return 0;
  }
  if (!command || argument === undefined || more.length !== (command.operands ?? 1) - 1) {
    console.error(USAGE);
    return 1;
  }
  try {
    return (await command.run(argument, ...more)) ?? 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(problem);
      return 1;
    }
    throw error;
  }
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
