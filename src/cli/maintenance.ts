/** `berth gc` and `berth scrub`: one maintenance pass from the command line. */
import type { BerthConfig } from '../config/config.js';
import { loadConfig } from '../config/load-config.js';
import type { Backends } from '../backends.js';
import { describeCollection } from '../maintenance/gc-report.js';
import { Maintenance, maintenanceLock } from '../maintenance/maintenance.js';
import { Registry } from '../registry/registry.js';
import { servingProcess } from '../storage/server-claim.js';
import { openBackends } from '../backends.js';

async function withMaintenance(file: string, work: (context: { config: BerthConfig; maintenance: Maintenance; backends: Backends }) => Promise<number>): Promise<number> {
  const config = await loadConfig(file);
  const backends = await openBackends(config, { info: (message) => console.log(message), error: (message) => console.error(message) });
  try {
    await backends.connect();
    const maintenance = new Maintenance(new Registry(backends.store), () => ({ gcDelayMs: config.storage.gcDelayMs, retention: config.storage.retention }));
    return await work({ config, maintenance, backends });
  } finally {
    await backends.close();
  }
}

/**
 * Removes what garbage collection would. With locks in Redis it runs beside live replicas (taking
 * the same maintenance lock they do); otherwise it refuses while a server uses the same storage.
 */
export function runGc(file: string): Promise<number> {
  return withMaintenance(file, async ({ config, maintenance, backends }) => {
    if (!backends.coordination.shared) {
      const pid = await servingProcess(config.storage.rootDirectory);
      if (pid !== undefined) {
        console.error(`berth gc: a Berth server (pid ${pid}) is serving ${config.storage.rootDirectory}; it collects every gcInterval by itself. Stop it to collect from here.`);
        return 1;
      }
    }
    // index.json of every repository up to date, whatever a killed server left in a journal; never
    // beside a live server on this storage (replicas on S3 with Redis): its journal is its own.
    if ((await servingProcess(config.storage.rootDirectory)) === undefined) await backends.store.flush();
    const collection = await backends.coordination.locks.tryRun(maintenanceLock('gc'), () => maintenance.gc.collect());
    if (collection === undefined) {
      console.error('berth gc: a replica is collecting garbage right now; try again when it is done');
      return 1;
    }
    for (const line of describeCollection(collection)) console.log(line);
    return 0;
  });
}

/** Verifies every image; exits 1 when any is affected. Read-only, so safe next to a server. */
export function runScrub(file: string): Promise<number> {
  return withMaintenance(file, async ({ maintenance }) => {
    const results = await maintenance.scrubber.scrub();
    for (const result of results) {
      console.log(`${result.status.padEnd(8)} ${result.repository}:${result.reference}${result.reason ? `: ${result.reason}` : ''}`);
    }
    const affected = results.filter((result) => result.status === 'affected').length;
    console.log(`${results.length} images checked, ${affected} affected`);
    return affected === 0 ? 0 : 1;
  });
}
