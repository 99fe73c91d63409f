/**
 * `berth users release <config> <name>`: frees a provider user name that is bound to a subject
 * (user-directory.ts), for when the name was renamed or reused at the provider and its new holder
 * must be let in. It removes the binding (the name's sessions end at their next request) and
 * revokes the name's API keys, so the next holder inherits nothing. Acts on the records the
 * server uses: Redis when the config shares them (`http.auth.sessionDriver`, else
 * `storage.cacheDriver`), while the servers run; else the files under the storage root, with the
 * server stopped (it holds them in memory).
 */
import { ApiKeyStore } from '../auth/api-keys.js';
import { UserDirectory } from '../auth/user-directory.js';
import { openBackends } from '../backends.js';
import { loadConfig } from '../config/load-config.js';
import { servingProcess } from '../storage/server-claim.js';

export const USERS_USAGE = 'release <config> <name>';

export async function runUsersCommand([action, file, name]: string[]): Promise<number> {
  if (action !== 'release' || file === undefined || name === undefined || name === '') {
    console.error(`usage: berth users ${USERS_USAGE}`);
    return 1;
  }
  const config = await loadConfig(file);
  const backends = await openBackends(config, { info: () => undefined, error: (message) => console.error(message) });
  try {
    await backends.connect();
    const coordination = backends.sessions;
    if (!coordination.shared) {
      const pid = await servingProcess(config.storage.rootDirectory);
      if (pid !== undefined) {
        console.error(
          `berth users release: a Berth server (pid ${pid}) is serving ${config.storage.rootDirectory} and holds its users in memory. Stop it, release, then start it again (with a Redis cacheDriver or sessionDriver this works while it runs).`,
        );
        return 1;
      }
    }
    const released = await new UserDirectory(coordination.records('users'), coordination.locks).release(name);
    const revoked = await new ApiKeyStore(coordination).revokeAll(name);
    if (!released && revoked === 0) {
      console.error(`berth users release: no provider user "${name}" is bound and it has no API keys; nothing to do`);
      return 1;
    }
    if (released)
      console.log(`released "${name}" (provider ${released.provider}, subject ${released.sub ?? 'none recorded yet'}): its sessions end, and the next sign-in with this name binds it anew`);
    console.log(`revoked ${revoked} API key${revoked === 1 ? '' : 's'} of "${name}"`);
    return 0;
  } finally {
    await backends.close();
  }
}
