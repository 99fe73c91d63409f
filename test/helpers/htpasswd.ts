/** Writes an htpasswd file for tests (bcrypt at cost 4: the format is real, the tests stay fast). */
import bcrypt from 'bcryptjs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { scratchDir } from './scratch.js';

export function htpasswdText(users: Record<string, string>): string {
  return Object.entries(users)
    .map(([user, password]) => `${user}:${bcrypt.hashSync(password, 4)}\n`)
    .join('');
}

export async function writeHtpasswd(users: Record<string, string>, file?: string): Promise<string> {
  const target = file ?? path.join(await scratchDir('htpasswd'), 'htpasswd');
  await writeFile(target, htpasswdText(users));
  return target;
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
