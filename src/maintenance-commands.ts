/** `berth gc` and `berth scrub`: one maintenance pass from the command line. */
import { loadConfig } from './config/load-config.js';
import { describeCollection } from './registry/gc-report.js';
import { Registry } from './registry/registry.js';
import { FsStore } from './storage/fs-store.js';
import { servingProcess } from './storage/server-claim.js';

async function openRegistry(file: string) {
  const config = await loadConfig(file);
  const registry = new Registry(new FsStore(config.storage.rootDirectory, { dedupe: config.storage.dedupe }), () => ({ gcDelayMs: config.storage.gcDelayMs, retention: config.storage.retention }));
  return { config, registry };
}

/** Removes what garbage collection would; refuses while a server uses the same storage. */
export async function runGc(file: string): Promise<number> {
  const { config, registry } = await openRegistry(file);
  const pid = await servingProcess(config.storage.rootDirectory);
  if (pid !== undefined) {
    console.error(`berth gc: a Berth server (pid ${pid}) is serving ${config.storage.rootDirectory}; it collects every gcInterval by itself. Stop it to collect from here.`);
    return 1;
  }
  for (const line of describeCollection(await registry.gc.collect())) console.log(line);
  return 0;
}

/** Verifies every image; exits 1 when any is affected. Read-only, so safe next to a server. */
export async function runScrub(file: string): Promise<number> {
  const { registry } = await openRegistry(file);
  const results = await registry.scrubber.scrub();
  for (const result of results) {
    console.log(`${result.status.padEnd(8)} ${result.repository}:${result.reference}${result.reason ? `: ${result.reason}` : ''}`);
  }
  const affected = results.filter((result) => result.status === 'affected').length;
  console.log(`${results.length} images checked, ${affected} affected`);
  return affected === 0 ? 0 : 1;
}
