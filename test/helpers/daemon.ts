/**
 * A daemon the tests start in a process group of its own (dockerd, containerd): waiting for its
 * exit, and stopping the whole group (SIGTERM, then SIGKILL after `graceMs`), so the shims and
 * helpers it spawned go with it.
 */
import type { ChildProcess } from 'node:child_process';

/** Resolves once `child` has exited (at once when it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Stops `child`'s process group (started with `detached: true`); a no-op once it has exited. */
export function groupStopper(child: ChildProcess, graceMs: number): () => Promise<void> {
  const childExited = exited(child);
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch (error) {
      // ESRCH: the group is already gone.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    await childExited;
    clearTimeout(timer);
  };
}
