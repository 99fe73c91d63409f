/**
 * The `berth` command line: the commands, their usage and help, and argv → a command → an exit
 * code. main.ts only calls `runCli` and sets the process's exit code.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/config.js';
import { runUsersCommand, USERS_USAGE } from './users.js';

// Each command's module loads when it runs: `serve` does without verify's openid-client, `htpasswd`
// without Fastify, and so on (start-up time and resident memory).

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

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
    run: async (file) => (await import('./serve.js')).serve(file),
  },
  verify: {
    argument: '<config>',
    help: `Checks a config and the files it names; exits 0 when they load, 1 with one line per problem.
Each OpenID provider is discovered once (5 s at most): endpoints Berth would refuse are problems,
endpoints it will call over plain http are named, and a provider it cannot reach is a warning.`,
    run: async (file) => (await import('./verify.js')).verify(file),
  },
  htpasswd: {
    argument: '<user>',
    help: 'Prints an htpasswd line (bcrypt) for <user>; the password comes from standard input, or is asked for twice on a terminal.',
    run: async (user) => (await import('./htpasswd.js')).printHtpasswdLine(user),
  },
  gc: {
    argument: '<config>',
    help: 'Runs one garbage collection and reports what it removed and the bytes freed. Refused while a server uses the same storage: it collects by itself.',
    run: async (file) => (await import('./maintenance.js')).runGc(file),
  },
  scrub: {
    argument: '<config>',
    help: 'Verifies the digest and size of every manifest, config and layer; exits 1 when any image is affected. Read-only: safe next to a running server.',
    run: async (file) => (await import('./maintenance.js')).runScrub(file),
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

/** Runs the command `argv` names; resolves to the process's exit code. */
export async function runCli(argv: string[]): Promise<number> {
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
