#!/usr/bin/env node
/** The `berth` process: argv → a command in cli/ → the exit code. Everything else lives in cli/. */
import { runCli } from './cli/commands.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`berth: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
