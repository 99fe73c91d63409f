/**
 * Follows a config file: every change that still validates is handed to `onChange`; one that does
 * not is reported and the running config stays. The folder is watched, not the file, because editors
 * and Kubernetes ConfigMap mounts replace the file rather than write into it.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { ConfigError, type BerthConfig } from './config.js';
import { loadConfig } from './load-config.js';

export interface ConfigWatcher {
  /** Reloads now (SIGHUP). */
  reload(): Promise<void>;
  close(): void;
}

/** With `follow` false nothing is watched and only `reload()` applies changes. */
export function watchConfig(file: string, follow: boolean, onChange: (config: BerthConfig) => Promise<void>, onError: (problems: string[]) => void): ConfigWatcher {
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const reload = (): Promise<void> => {
    running = running.then(async () => {
      try {
        await onChange(await loadConfig(file));
      } catch (error) {
        onError(error instanceof ConfigError ? error.problems : [`${file}: ${(error as Error).message}`]);
      }
    });
    return running;
  };
  const base = path.basename(file);
  let watcher: FSWatcher | undefined;
  if (follow) {
    watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== base && !name.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), 150);
    });
  }
  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
      watcher = undefined;
    },
  };
}
