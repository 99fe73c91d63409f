/** `berth htpasswd <user>`: an htpasswd line without apache2-utils. */
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { htpasswdLine } from '../auth/htpasswd.js';

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Asks on the terminal without echoing what is typed. */
async function ask(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const prompt = createInterface({ input: process.stdin, output, terminal: true });
  process.stderr.write(question);
  muted = true;
  const answer = await prompt.question('');
  prompt.close();
  process.stderr.write('\n');
  return answer;
}

export async function printHtpasswdLine(user: string): Promise<void> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await ask('Password: ');
    if ((await ask('Again: ')) !== password) throw new Error('the passwords differ');
  } else {
    // One trailing newline is the end of the line `echo` or a here-string adds, not the password.
    password = (await readAll(process.stdin)).replace(/\r?\n$/, '');
  }
  if (password === '') throw new Error('the password is empty');
  console.log(await htpasswdLine(user, password));
}
