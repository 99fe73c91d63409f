/**
 * Periodic sync (zot's `pollInterval`): every interval, the upstream's repositories that a
 * `content` rule names, and their tags that pass its filters (regex, excludeRegex, semver), are
 * copied to their local names. One round at a time per upstream; with replicas sharing Redis, the
 * replica that holds the upstream's lock runs the round and the others skip it. A round copies only
 * what changed (a tag whose digest Berth holds is passed over), so a round cut short by a restart or
 * an error resumes where it stopped. `onlySigned` copies only tags that carry a signature (a
 * referrer, or cosign's `sha256-<hex>.sig` tag); cosign's tags travel with the image they sign
 * (zot's `syncLegacyCosignTags`, on by default), never as images of their own.
 */
import type { SyncRegistryConfig } from '../config/config.js';
import { isValidName, isValidTag } from '../oci/names.js';
import { localNameOf, tagWanted } from './content.js';
import type { PullThrough, SyncLog } from './pull-through.js';
import type { Upstream } from './upstream.js';

/** The first round starts soon after start (not a whole interval later), as zot's does. */
const FIRST_ROUND_MS = 5_000;

export interface RoundReport {
  upstream: string;
  repositories: number;
  copied: number;
  unchanged: number;
  failed: number;
}

export interface PeriodicSync {
  /** Runs one round of every periodic upstream now (tests; the timer does it otherwise). */
  runNow(): Promise<RoundReport[]>;
  stop(): Promise<void>;
}

/** Starts the rounds; `tryRun` runs work under a lock replicas share (or at once, alone). */
export function startPeriodicSync(
  cache: PullThrough,
  tryRun: <T>(key: string, work: () => Promise<T>) => Promise<T | undefined>,
  log: SyncLog,
  audit?: (facts: { repository: string; tag: string; upstream: string }) => void,
  firstRoundMs = FIRST_ROUND_MS,
): PeriodicSync {
  const stopping = new AbortController();
  const periodic = cache.registries.filter((item) => item.config.pollIntervalMs !== undefined);
  const running = new Set<Promise<unknown>>();
  const round = async (index: number): Promise<RoundReport | undefined> => {
    const { config, client } = periodic[index]!;
    return tryRun(`sync:${config.urls.join(',')}`, () => mirrorRound(cache, config, client, stopping.signal, log, audit));
  };
  const timers = periodic.map((item, index) => {
    const tick = () => {
      const work = round(index).catch((error: unknown) => log.error({ upstream: item.client.name, reason: (error as Error).message }, 'sync: periodic round failed'));
      running.add(work);
      void work.finally(() => running.delete(work));
    };
    const first = setTimeout(tick, firstRoundMs);
    const every = setInterval(tick, item.config.pollIntervalMs);
    first.unref();
    every.unref();
    return [first, every] as const;
  });
  return {
    async runNow() {
      const reports = await Promise.all(periodic.map((_, index) => round(index)));
      return reports.filter((report): report is RoundReport => report !== undefined);
    },
    async stop() {
      stopping.abort();
      for (const [first, every] of timers) {
        clearTimeout(first);
        clearInterval(every);
      }
      await Promise.allSettled([...running]);
    },
  };
}

/** One round for one upstream. */
async function mirrorRound(
  cache: PullThrough,
  config: SyncRegistryConfig,
  upstream: Upstream,
  signal: AbortSignal,
  log: SyncLog,
  audit?: (facts: { repository: string; tag: string; upstream: string }) => void,
): Promise<RoundReport> {
  const report: RoundReport = { upstream: upstream.name, repositories: 0, copied: 0, unchanged: 0, failed: 0 };
  // Names and tags come from the upstream: only those valid here go into a request or an index.
  const repositories = (await upstream.catalog(signal)).filter((name) => isValidName(name) && localNameOf(config.content, name) !== undefined && isValidName(localNameOf(config.content, name)!.name));
  for (const remote of repositories) {
    if (signal.aborted) break;
    const mapped = localNameOf(config.content, remote)!;
    report.repositories++;
    let tags: string[];
    try {
      tags = (await upstream.tags(remote, signal)).filter(isValidTag);
    } catch (error) {
      report.failed++;
      log.warn({ upstream: upstream.name, repository: remote, reason: (error as Error).message }, 'sync: cannot list tags; repository skipped this round');
      continue;
    }
    // cosign's tag-scheme signatures travel with their image, never as images of their own.
    const signatures = new Set(tags.filter((tag) => /^sha256-[a-f0-9]{64}\.(sig|att|sbom)$/.test(tag)));
    for (const tag of tags.filter((item) => !signatures.has(item) && tagWanted(mapped.rule, item))) {
      if (signal.aborted) break;
      try {
        if (config.onlySigned && !(await signed(upstream, remote, tag, signatures))) {
          log.info({ upstream: upstream.name, repository: remote, tag }, 'sync: not signed; skipped (onlySigned)');
          continue;
        }
        const source = { upstream, remote };
        if (await cache.copyTag(mapped.name, source, tag, signal)) {
          report.copied++;
          audit?.({ repository: mapped.name, tag, upstream: upstream.name });
        } else report.unchanged++;
        if (config.syncLegacyCosignTags) await copySignatureTags(cache, mapped.name, source, tag, signatures, signal);
      } catch (error) {
        report.failed++;
        log.warn({ upstream: upstream.name, repository: remote, tag, reason: (error as Error).message }, 'sync: tag not copied this round');
      }
    }
  }
  log.info({ ...report }, 'sync: periodic round');
  return report;
}

/** cosign's tags for the image `tag` names (`sha256-<hex>.sig`, `.att`, `.sbom`), copied after it. */
async function copySignatureTags(cache: PullThrough, name: string, source: { upstream: Upstream; remote: string }, tag: string, signatures: Set<string>, signal: AbortSignal): Promise<void> {
  if (signatures.size === 0) return;
  const digest = await source.upstream.manifestDigest(source.remote, tag, 30_000);
  if (!digest) return;
  for (const suffix of ['sig', 'att', 'sbom']) {
    const cosignTag = `${digest.replace(':', '-')}.${suffix}`;
    if (signatures.has(cosignTag)) await cache.copyTag(name, source, cosignTag, signal);
  }
}

/** Whether a tag's image carries a signature upstream: a cosign tag, or a signature referrer. */
async function signed(upstream: Upstream, remote: string, tag: string, signatures: Set<string>): Promise<boolean> {
  const digest = await upstream.manifestDigest(remote, tag, 30_000);
  if (!digest) return false;
  if (signatures.has(`${digest.replace(':', '-')}.sig`)) return true;
  const referrers = await upstream.referrers(remote, digest);
  return (referrers?.manifests ?? []).some((item) => item.artifactType === 'application/vnd.dev.cosign.artifact.sig.v1+json' || item.artifactType === 'application/vnd.cncf.notary.signature');
}
