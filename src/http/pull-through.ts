/**
 * The pull-through cache as the routes use it: a read that misses locally in a repository an
 * on-demand upstream maps (or a tag due for a freshness check) goes to `PullThrough`. The request
 * was authorized for the local repository before it got here (`read`); what the cache stores is
 * written by Berth itself, and the request's audit line (event `sync-fetch`) says so, naming the
 * upstream and who asked.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import type { Reference } from '../registry/manifests.js';
import type { PulledBlob, PullThrough } from '../sync/pull-through.js';
import type { PeriodicSync } from '../sync/periodic.js';
import { auditFacts } from './audit.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The pull-through cache, when extensions.sync has an upstream (it serves those with onDemand). */
    pullThrough: PullThrough | undefined;
    /** The periodic mirroring of upstreams with a pollInterval. */
    periodicSync: PeriodicSync | undefined;
  }
}

/** containerd's `?ns=<registry host>` on a mirror's requests: which registry the client means. */
export function namespaceOf(request: FastifyRequest): string | undefined {
  const ns = (request.query as Record<string, unknown> | undefined)?.ns;
  return typeof ns === 'string' && ns !== '' ? ns : undefined;
}

const isUnknown = (error: unknown) => error instanceof RegistryError && (error.key === 'MANIFEST_UNKNOWN' || error.key === 'NAME_UNKNOWN' || error.key === 'BLOB_UNKNOWN');

/** What `request` (a pull) fetched through the cache, for its audit line. */
function auditFetch(request: FastifyRequest, name: string, facts: { tag?: string; digest?: string; upstream?: string; outcome: 'ok' | 'refused' | 'failed'; reason?: string }): void {
  auditFacts(request, { event: 'sync-fetch', user: 'sync', repository: name, onBehalfOf: request.access?.identity.username ?? null, ...facts });
}

/** A manifest for a pull: local, or through the cache when the repository is mirrored. */
export async function pullManifest(app: FastifyInstance, request: FastifyRequest, name: string, reference: Reference): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  const cache = app.pullThrough;
  const namespace = namespaceOf(request);
  if (!cache || cache.sourcesOf(name, namespace).length === 0) return app.registry.manifests.get(name, reference);
  let local: { descriptor: Descriptor; bytes: Buffer } | undefined;
  try {
    local = await app.registry.manifests.get(name, reference);
  } catch (error) {
    if (!isUnknown(error)) throw error;
  }
  const named = reference.tag !== undefined ? { tag: reference.tag } : { digest: reference.digest.value };
  try {
    const answer = await cache.manifest(name, reference, local, namespace);
    if (answer.from) auditFetch(request, name, { ...named, digest: answer.descriptor.digest, upstream: answer.from, outcome: 'ok' });
    return answer;
  } catch (error) {
    if (!local) auditFetch(request, name, { ...named, outcome: isUnknown(error) ? 'refused' : 'failed', reason: (error as Error).message });
    throw error;
  }
}

/** A blob for a pull that Berth does not hold, through the cache; undefined when the repository is not mirrored. */
export async function pullBlob(app: FastifyInstance, request: FastifyRequest, name: string, digest: Digest): Promise<PulledBlob | undefined> {
  const cache = app.pullThrough;
  const namespace = namespaceOf(request);
  if (!cache || cache.sourcesOf(name, namespace).length === 0) return undefined;
  try {
    const pulled = await cache.blob(name, digest, namespace);
    auditFetch(request, name, { digest: digest.value, upstream: cache.sourcesOf(name, namespace)[0]!.upstream.name, outcome: 'ok' });
    return pulled;
  } catch (error) {
    auditFetch(request, name, { digest: digest.value, outcome: isUnknown(error) ? 'refused' : 'failed', reason: (error as Error).message });
    throw error;
  }
}

export { isUnknown as isUnknownContent };
