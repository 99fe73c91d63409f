/**
 * OCI repository names contain slashes (`library/alpine`), which a path router cannot tell from the
 * rest of the URL. Before routing, the name is folded into one encoded segment, so each endpoint is a
 * plain Fastify route (`/v2/:name/manifests/:reference`) with its own schema and declared access;
 * find-my-way decodes the parameter back to `library/alpine`. The greedy `(.+)` takes the last
 * endpoint keyword, so a repository may itself contain `manifests` or `tags` as a component.
 */
const ENDPOINTS: Array<[RegExp, (name: string, rest: string) => string]> = [
  [/^\/v2\/(.+)\/blobs\/uploads\/?$/, (name) => `/v2/${name}/blobs/uploads/`],
  [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, (name, id) => `/v2/${name}/blobs/uploads/${id}`],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (name, digest) => `/v2/${name}/blobs/${digest}`],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (name, reference) => `/v2/${name}/manifests/${reference}`],
  [/^\/v2\/(.+)\/tags\/list$/, (name) => `/v2/${name}/tags/list`],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (name, digest) => `/v2/${name}/referrers/${digest}`],
];

export function rewriteRegistryUrl(url: string): string {
  if (!url.startsWith('/v2/')) return url;
  const queryAt = url.indexOf('?');
  const pathPart = queryAt < 0 ? url : url.slice(0, queryAt);
  const query = queryAt < 0 ? '' : url.slice(queryAt);
  for (const [pattern, build] of ENDPOINTS) {
    const match = pattern.exec(pathPart);
    if (match) return build(match[1]!.replaceAll('/', '%2F'), match[2] ?? '') + query;
  }
  return url;
}
