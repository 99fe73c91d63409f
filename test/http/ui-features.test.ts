/**
 * The web UI's homelab features over HTTP, asserted on the server-rendered HTML: tag and repository
 * sorts both ways, page numbers with a jump, push instructions on empty pages, untagged manifests
 * explained and cleaned up (and an empty repository deleted) by whoever may delete, an index's
 * size as pulled on linux/amd64, signatures and SBOMs shown as such, and safe links from
 * image labels. Attack rows beside each: a reader's posts, a missing CSRF token, hostile labels.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { writeHtpasswd, basicAuth } from '../helpers/htpasswd.js';
import { pushBlob, pushImage, putManifest } from '../helpers/registry-api.js';
import { OCI_CONFIG, OCI_EMPTY, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci.js';
import { formatBytes } from '../../src/ui/format.js';
import { formTokenOf, signInWithPassword, type UiSession } from '../helpers/ui-session.js';

let berth: TestServer;
let root: UiSession;
let rita: UiSession;
/** Signed in, but may read no repository. */
let nina: UiSession;
const ADMIN = { authorization: basicAuth('root', 'root-pw') };

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ root: 'root-pw', rita: 'rita-pw', nina: 'nina-pw' });
  berth = await startBerth({
    config: {
      extensions: { ui: { enable: true } },
      http: {
        auth: { htpasswd: { path: htpasswd } },
        accessControl: {
          groups: { readers: { users: ['rita'] } },
          repositories: { '**': { policies: [{ groups: ['readers'], actions: ['read'] }] } },
          adminPolicy: { users: ['root'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  // Pushed in this order: v1.10 is the newest push, v1.2 the oldest.
  for (const tag of ['v1.2', 'v1.9', 'latest', 'v1.10']) await pushImage(berth.url, 'sort/app', tag, { layers: 1, headers: ADMIN });
  root = await signInWithPassword(berth.url, 'root', 'root-pw');
  rita = await signInWithPassword(berth.url, 'rita', 'rita-pw');
  nina = await signInWithPassword(berth.url, 'nina', 'nina-pw');
});

afterAll(async () => {
  await berth?.close();
});

const page = async (session: UiSession, target: string) => {
  const response = await session.browse(target);
  expect(response.status, target).toBe(200);
  return response.text();
};
interface Pushed {
  digest: string;
  size: number;
  mediaType: string;
}

/** Pushes `blobs`, then the manifest `document` of `mediaType` under `reference` (a tag, or '' for its digest). */
async function pushDocument(name: string, reference: string, document: object, mediaType: string, blobs: Buffer[] = []): Promise<Pushed> {
  for (const bytes of blobs) await pushBlob(berth.url, name, bytes, ADMIN);
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...document }));
  await putManifest(berth.url, name, reference || sha256(bytes), { mediaType, digest: sha256(bytes), size: bytes.length, bytes }, ADMIN);
  return { digest: sha256(bytes), size: bytes.length, mediaType };
}

const descriptor = (mediaType: string, bytes: Buffer) => ({ mediaType, digest: sha256(bytes), size: bytes.length });

/** An image of one platform whose layer is `layerBytes` long, with config `labels` and manifest `annotations`. */
async function pushPlatformImage(
  name: string,
  reference: string,
  options: { architecture?: string; layerBytes?: number; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Promise<Pushed & { total: number }> {
  const layer = Buffer.alloc(options.layerBytes ?? 1000, `${name}:${reference}:${options.architecture ?? 'amd64'}`);
  const config = Buffer.from(
    JSON.stringify({ os: 'linux', architecture: options.architecture ?? 'amd64', config: { Labels: options.labels ?? {} }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
  );
  const pushed = await pushDocument(
    name,
    reference,
    { config: descriptor(OCI_CONFIG, config), layers: [descriptor(OCI_LAYER, layer)], ...(options.annotations ? { annotations: options.annotations } : {}) },
    OCI_MANIFEST,
    [config, layer],
  );
  return { ...pushed, total: pushed.size + config.length + layer.length };
}

/** A tagged two-platform index (amd64 `amdBytes` of layer, arm64 `armBytes`), its children pushed by digest first as buildx does. */
async function pushIndex(name: string, tag: string, amdBytes = 3000, armBytes = 2000) {
  const amd = await pushPlatformImage(name, '', { architecture: 'amd64', layerBytes: amdBytes });
  const arm = await pushPlatformImage(name, '', { architecture: 'arm64', layerBytes: armBytes });
  const platform = (architecture: string) => ({ os: 'linux', architecture });
  const index = await pushDocument(
    name,
    tag,
    {
      manifests: [
        { ...strip(arm), platform: platform('arm64') },
        { ...strip(amd), platform: platform('amd64') },
      ],
    },
    OCI_INDEX,
  );
  return { index, amd, arm };
}
const strip = ({ digest, size, mediaType }: Pushed) => ({ digest, size, mediaType });

/** A referrer of `subject` with `artifactType`, pushed by digest (or under `tag`). */
async function pushReferrer(name: string, subject: Pushed, artifactType: string, tag = ''): Promise<Pushed> {
  const empty = Buffer.from('{}');
  const payload = Buffer.from(`${artifactType} of ${subject.digest}`);
  return pushDocument(name, tag, { artifactType, config: descriptor(OCI_EMPTY, empty), layers: [descriptor('application/octet-stream', payload)], subject: strip(subject) }, OCI_MANIFEST, [
    empty,
    payload,
  ]);
}

/** A form post of a signed-in browser, with the token of the repository page (none: `token` ''). */
async function postForm(session: UiSession, action: string, token?: string): Promise<Response> {
  const csrf = token ?? formTokenOf(await page(session, '/repository?name=sort/app'));
  return session.browse(action, { method: 'POST', body: new URLSearchParams(csrf === '' ? {} : { csrf }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

const manifestStatus = async (name: string, reference: string) =>
  (await fetch(`${berth.url}/v2/${name}/manifests/${reference}`, { method: 'HEAD', headers: { ...ADMIN, accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } })).status;

/** One image under `count` tags (t000, t001, ...); returns the tag count the page reports. */
async function pushMany(name: string, count: number): Promise<number> {
  const image = await pushImage(berth.url, name, 't000', { layers: 1, headers: ADMIN });
  const manifest = { mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length, bytes: image.manifest };
  for (let i = 1; i < count; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, count - i) }, (_, j) => putManifest(berth.url, name, `t${String(i + j).padStart(3, '0')}`, manifest, ADMIN)));
  }
  return Number(/(\d+) tags/.exec(await page(root, `/repository?name=${name}`))?.[1]);
}

/** The tag names of a repository page's table, in order. */
const tagsOf = (text: string) => [...text.matchAll(/<th scope="row"><a href="\/image\?[^"]*">([^<]+)<\/a>/g)].map((match) => match[1]);

describe('sorting', () => {
  it('sorts tags by push time or by name, both ways, and keeps the order across pages', async () => {
    expect(tagsOf(await page(rita, '/repository?name=sort/app'))).toEqual(['v1.10', 'latest', 'v1.9', 'v1.2']);
    expect(tagsOf(await page(rita, '/repository?name=sort/app&sort=pushed'))).toEqual(['v1.10', 'latest', 'v1.9', 'v1.2']);
    expect(tagsOf(await page(rita, '/repository?name=sort/app&sort=-pushed'))).toEqual(['v1.2', 'v1.9', 'latest', 'v1.10']);
    // Numbers in tags compare as numbers: v1.9 before v1.10.
    expect(tagsOf(await page(rita, '/repository?name=sort/app&sort=name'))).toEqual(['latest', 'v1.2', 'v1.9', 'v1.10']);
    expect(tagsOf(await page(rita, '/repository?name=sort/app&sort=-name'))).toEqual(['v1.10', 'v1.9', 'v1.2', 'latest']);
    const text = await page(rita, '/repository?name=sort/app&sort=-name&q=v1');
    expect(text).toMatch(/<option value="-name" selected>/);
    expect(tagsOf(text)).toEqual(['v1.10', 'v1.9', 'v1.2']);
    expect((await rita.browse('/repository?name=sort/app&sort=size')).status).toBe(400);
    // The JSON twin sorts the same way.
    const api = (await (await rita.api('/api/ui/repository?repository=sort/app&sort=-name')).json()) as { tags: Array<{ tag: string }> };
    expect(api.tags.map((tag) => tag.tag)).toEqual(['v1.10', 'v1.9', 'v1.2', 'latest']);
  });

  it('sorts repositories by name or last push, both ways', async () => {
    for (const name of ['sort/b', 'sort/a', 'sort/c']) await pushImage(berth.url, name, 'v1', { layers: 1, headers: ADMIN });
    const names = async (sort: string) => [...(await page(root, `/repositories?q=sort/&sort=${sort}`)).matchAll(/class="row-title" href="[^"]*">([^<]+)</g)].map((match) => match[1]);
    expect(await names('name')).toEqual(['sort/a', 'sort/app', 'sort/b', 'sort/c']);
    expect(await names('-name')).toEqual(['sort/c', 'sort/b', 'sort/app', 'sort/a']);
    expect(await names('pushed')).toEqual(['sort/c', 'sort/a', 'sort/b', 'sort/app']);
    expect(await names('-pushed')).toEqual(['sort/app', 'sort/b', 'sort/a', 'sort/c']);
    expect(await page(rita, '/repositories?sort=-pushed')).toMatch(/<option value="-pushed" selected>/);
    const api = (await (await root.api('/api/ui/repositories?q=sort/&sort=-name')).json()) as { repositories: Array<{ name: string }> };
    expect(api.repositories.map((repository) => repository.name)).toEqual(['sort/c', 'sort/b', 'sort/app', 'sort/a']);
    expect((await rita.api('/api/ui/repositories?sort=size')).status).toBe(400);
  });
});

describe('the pager', () => {
  it('numbers the first, last and nearby pages, marks the current one, and keeps the query', async () => {
    for (let i = 0; i < 12; i += 1) await pushImage(berth.url, `pages/app-${String(i).padStart(2, '0')}`, 'v1', { layers: 1, headers: ADMIN });
    // 12 repositories at 50 a page is one page: no pager at all.
    expect(await page(rita, '/repositories?q=pages/')).not.toContain('class="pager"');
    const many = await pushMany('pages/many', 50 * 9 + 1);
    expect(many).toBe(451);
    const text = await page(rita, '/repository?name=pages/many&page=6&sort=name');
    const numbers = [...text.matchAll(/<li>(?:<a href="([^"]+)" aria-label="Page (\d+)"( aria-current="page")?>\d+<\/a>|…)<\/li>|<li aria-hidden="true">…<\/li>/g)].map((match) =>
      match[2] === undefined ? '…' : match[3] ? `[${match[2]}]` : match[2],
    );
    expect(numbers).toEqual(['1', '…', '4', '5', '[6]', '7', '8', '…', '10']);
    expect(text).toContain('href="/repository?name=pages%2Fmany&amp;sort=name&amp;page=10" aria-label="Page 10"');
    expect(text).toContain('href="/repository?name=pages%2Fmany&amp;sort=name" aria-label="Page 1"');
    // The jump: a GET form that carries the list's other parameters and bounds the number.
    const form = /<form method="get" action="\/repository" class="page-jump">([\s\S]*?)<\/form>/.exec(text)?.[1] ?? '';
    expect(form).toContain('<input type="hidden" name="name" value="pages/many">');
    expect(form).toContain('<input type="hidden" name="sort" value="name">');
    expect(form).toMatch(/<label for="tag-pages-jump">Go to page<\/label>\s*<input id="tag-pages-jump" name="page" type="number" inputmode="numeric" min="1" max="10" value="6" required>/);
    const first = await page(rita, '/repository?name=pages/many');
    expect(first).toMatch(/aria-label="Page 1" aria-current="page">1</);
    expect(first).not.toContain('rel="prev"');
  });

  it('clamps a page past the end to the last page, and refuses a page that is no number', async () => {
    const text = await page(rita, '/repository?name=pages/many&page=999');
    expect(text).toContain('Page 10 of 10');
    expect(text).toContain('Tags 451–451 of 451');
    expect(text).not.toContain('rel="next"');
    expect((await rita.browse('/repository?name=pages/many&page=0')).status).toBe(400);
    expect((await rita.browse('/repository?name=pages/many&page=x')).status).toBe(400);
    expect((await rita.browse('/repositories?page=-1')).status).toBe(400);
  });
});

describe('labels and annotations', () => {
  it('link the source, url and documentation when they are http(s) URLs, and show anything else as escaped text', async () => {
    await pushPlatformImage('links/app', 'v1', {
      labels: {
        'org.opencontainers.image.source': 'javascript:alert(document.cookie)',
        'org.opencontainers.image.url': 'data:text/html,<script>alert(1)</script>',
        'org.opencontainers.image.documentation': 'https://docs.example.org/a"><img src=x onerror=alert(1)>',
        'org.opencontainers.image.title': 'https://not-a-link.example.org/',
      },
      annotations: { 'org.opencontainers.image.source': 'https://github.com/example/app', 'org.opencontainers.image.url': 'JavaScript:alert(2)' },
    });
    const text = await page(rita, '/image?name=links/app&ref=v1');
    const links = [...text.matchAll(/<a href="([^"]*)" rel="([^"]*)">/g)].map((match) => [match[1], match[2]]);
    expect(links).toEqual([
      ['https://docs.example.org/a%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E', 'noopener noreferrer nofollow'],
      ['https://github.com/example/app', 'noopener noreferrer nofollow'],
    ]);
    expect(text).toContain('<code class="wrap">javascript:alert(document.cookie)</code>');
    expect(text).toContain('<code class="wrap">data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;</code>');
    expect(text).toContain('<code class="wrap">https://docs.example.org/a&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</code>');
    expect(text).toContain('<code class="wrap">JavaScript:alert(2)</code>');
    expect(text).not.toMatch(/href="(?:javascript|data):/i);
    expect(text).not.toContain('<img src=x');
    expect(text).not.toContain('href="https://not-a-link');
  });
});

describe('push instructions', () => {
  /** The copyable lines of the Push panel: [command, button label]. */
  const pushLines = (text: string) =>
    [
      ...(/<section class="card" aria-labelledby="push-title">([\s\S]*?)<\/section>/.exec(text)?.[1] ?? '').matchAll(
        /<code>([^<]*)<\/code><button type="button" class="button button-small" data-copy="([^"]*)" aria-label="([^"]*)"/g,
      ),
    ].map((match) => {
      expect(match[2]).toBe(match[1]);
      return [match[1]!.replaceAll('&amp;', '&'), match[3]];
    });

  it('on a registry with no repository the viewer may read: docker, podman and oras lines naming this host', async () => {
    const text = await page(nina, '/repositories');
    expect(text).toContain('There is no repository you may read yet.');
    expect(pushLines(text)).toEqual([
      [`docker tag my-image:latest ${berth.host}/my-app:latest && docker push ${berth.host}/my-app:latest`, 'Copy the docker push command'],
      [`podman push --tls-verify=false my-image:latest ${berth.host}/my-app:latest`, 'Copy the podman push command'],
      [`oras push --plain-http ${berth.host}/my-app:latest ./notes.txt:text/plain`, 'Copy the oras push command'],
    ]);
    expect(text).toContain(`docker login ${berth.host}`);
    // Not when there are repositories, nor when a search finds nothing.
    expect(await page(rita, '/repositories')).not.toContain('push-title');
    expect(await page(rita, '/repositories?q=no-such-thing')).not.toContain('push-title');
  });

  it('on a repository without tags: the lines name the repository', async () => {
    await pushImage(berth.url, 'empty/app', 'v1', { layers: 1, headers: ADMIN });
    expect(await page(rita, '/repository?name=empty/app')).not.toContain('push-title');
    expect((await fetch(`${berth.url}/v2/empty/app/manifests/v1`, { method: 'DELETE', headers: ADMIN })).status).toBe(202);
    const text = await page(rita, '/repository?name=empty/app');
    expect(text).toContain('This repository has no tags.');
    expect(pushLines(text).map(([command]) => command)).toEqual([
      `docker tag my-image:latest ${berth.host}/empty/app:latest && docker push ${berth.host}/empty/app:latest`,
      `podman push --tls-verify=false my-image:latest ${berth.host}/empty/app:latest`,
      `oras push --plain-http ${berth.host}/empty/app:latest ./notes.txt:text/plain`,
    ]);
  });
});

describe('untagged manifests', () => {
  it('counts only what tags left behind: not the platforms of a tagged index, not referrers', async () => {
    const { index, amd, arm } = await pushIndex('clean/app', 'multi');
    await pushReferrer('clean/app', index, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    const first = await pushPlatformImage('clean/app', 'v1', { layerBytes: 100 });
    expect(await page(rita, '/repository?name=clean/app')).not.toMatch(/untagged/i);
    // The tag moves: the image it left is untagged, and so is an old index with its two platforms (counted once).
    await pushPlatformImage('clean/app', 'v1', { layerBytes: 200 });
    const old = await pushIndex('clean/app', 'old', 50, 60);
    await pushIndex('clean/app', 'old', 70, 80);
    const text = await page(rita, '/repository?name=clean/app');
    expect(text).toContain('2 untagged manifests');
    expect(text).toContain('Untagged manifests are images no tag points to any more');
    // A reader sees no action.
    expect(text).not.toContain('delete-untagged');
    const admin = await page(root, '/repository?name=clean/app');
    expect(admin).toContain('action="/repository/delete-untagged?name=clean%2Fapp"');
    expect(admin).not.toContain('action="/repository/delete?');
    Object.assign(cleanup, { index, amd, arm, first, old });
  });

  it('refuses a reader, and a post without the form token; nothing changes', async () => {
    const reader = await postForm(rita, '/repository/delete-untagged?name=clean/app', formTokenOf(await page(rita, '/account')));
    expect(reader.status).toBe(403);
    const noToken = await postForm(root, '/repository/delete-untagged?name=clean/app', '');
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).not.toContain('manifests deleted');
    const wrongToken = await postForm(root, '/repository/delete-untagged?name=clean/app', 'x'.repeat(43));
    expect(wrongToken.status).toBe(403);
    // A post from another site, token or not.
    const crossSite = await root.browse('/repository/delete-untagged?name=clean/app', {
      method: 'POST',
      body: new URLSearchParams({ csrf: formTokenOf(await page(root, '/repository?name=clean/app')) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(await page(rita, '/repository?name=clean/app')).toContain('2 untagged manifests');
    expect(await manifestStatus('clean/app', cleanup.first.digest)).toBe(200);
  });

  it('lets whoever may delete remove them, and keeps everything a tag or a subject still needs', async () => {
    const response = await postForm(root, '/repository/delete-untagged?name=clean/app');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/repository?name=clean%2Fapp&removed=4');
    const text = await page(root, response.headers.get('location')!);
    expect(text).toContain('4 manifests deleted; garbage collection frees their blobs later.');
    expect(text).not.toMatch(/untagged manifest/);
    for (const gone of [cleanup.first, cleanup.old.index, cleanup.old.amd, cleanup.old.arm]) expect(await manifestStatus('clean/app', gone.digest)).toBe(404);
    for (const kept of [cleanup.index, cleanup.amd, cleanup.arm]) expect(await manifestStatus('clean/app', kept.digest)).toBe(200);
    const referrers = await (await fetch(`${berth.url}/v2/clean/app/referrers/${cleanup.index.digest}`, { headers: ADMIN })).json();
    expect((referrers as { manifests: unknown[] }).manifests).toHaveLength(1);
  });
});

describe('deleting an empty repository', () => {
  it('is offered once no tag is left, refused to a reader and without the token, and removes the repository', async () => {
    const image = await pushPlatformImage('gone/app', 'v1');
    // A repository nested below the name, and one sharing the layer's bytes (dedupe): both must stay.
    const nested = await pushPlatformImage('gone/app/sub', 'v1');
    const layer = (await (await fetch(`${berth.url}/v2/gone/app/manifests/${image.digest}`, { headers: { ...ADMIN, accept: OCI_MANIFEST } })).json()) as { layers: Array<{ digest: string }> };
    const layerBytes = Buffer.alloc(1000, 'gone/app:v1:amd64');
    expect(sha256(layerBytes)).toBe(layer.layers[0]!.digest);
    await pushBlob(berth.url, 'keeps/app', layerBytes, ADMIN);
    expect(await page(root, '/repository?name=gone/app')).not.toContain('action="/repository/delete?');
    // Refused while tags are left, even to an admin who posts by hand.
    const refused = await postForm(root, '/repository/delete?name=gone/app');
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('The repository still has tags');
    expect((await fetch(`${berth.url}/v2/gone/app/manifests/v1`, { method: 'DELETE', headers: ADMIN })).status).toBe(202);
    const admin = await page(root, '/repository?name=gone/app');
    expect(admin).toContain('0 tags');
    expect(admin).toContain('action="/repository/delete?name=gone%2Fapp"');
    expect(await page(rita, '/repository?name=gone/app')).not.toContain('action="/repository/delete?');
    expect((await postForm(rita, '/repository/delete?name=gone/app', formTokenOf(await page(rita, '/account')))).status).toBe(403);
    expect((await postForm(root, '/repository/delete?name=gone/app', '')).status).toBe(403);
    expect(await manifestStatus('gone/app', image.digest)).toBe(200);
    const response = await postForm(root, '/repository/delete?name=gone/app');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/repositories?deleted=gone%2Fapp');
    expect(await manifestStatus('gone/app', image.digest)).toBe(404);
    // Gone from the lists, the page, the API and the disk; its blobs with it.
    const listed = await page(root, response.headers.get('location')!);
    expect(listed).toContain('The repository gone/app was deleted.');
    expect(listed).not.toContain('href="/repository?name=gone%2Fapp"');
    expect(listed).toContain('href="/repository?name=gone%2Fapp%2Fsub"');
    const catalog = (await (await fetch(`${berth.url}/v2/_catalog`, { headers: ADMIN })).json()) as { repositories: string[] };
    expect(catalog.repositories).not.toContain('gone/app');
    expect(catalog.repositories).toContain('gone/app/sub');
    expect((await root.browse('/repository?name=gone/app')).status).toBe(404);
    expect((await fetch(`${berth.url}/v2/gone/app/tags/list`, { headers: ADMIN })).status).toBe(404);
    expect((await fetch(`${berth.url}/v2/gone/app/blobs/${layer.layers[0]!.digest}`, { method: 'HEAD', headers: ADMIN })).status).toBe(404);
    // On the filesystem only the nested repository's folder is left (the store contract checks S3's objects).
    if (!berth.bucket) expect(await readdir(path.join(berth.root, 'gone', 'app'))).toEqual(['sub']);
    // What other repositories hold is untouched.
    expect(await manifestStatus('gone/app/sub', nested.digest)).toBe(200);
    const shared = await fetch(`${berth.url}/v2/keeps/app/blobs/${layer.layers[0]!.digest}`, { headers: ADMIN });
    expect(shared.status).toBe(200);
    expect(sha256(Buffer.from(await shared.arrayBuffer()))).toBe(layer.layers[0]!.digest);
    // The name can be pushed to again: a new repository, listed again.
    const again = await pushPlatformImage('gone/app', 'v2');
    expect(await manifestStatus('gone/app', again.digest)).toBe(200);
    expect(await page(root, '/repository?name=gone/app')).toContain('1 tag');
    expect(((await (await fetch(`${berth.url}/v2/_catalog`, { headers: ADMIN })).json()) as { repositories: string[] }).repositories).toContain('gone/app');
  });

  it('deletes a repository that holds no manifest at all (blobs pushed, no manifest)', async () => {
    await pushBlob(berth.url, 'bare/app', Buffer.from('only a blob'), ADMIN);
    const admin = await page(root, '/repository?name=bare/app');
    expect(admin).toContain('0 tags');
    expect(admin).toContain('action="/repository/delete?name=bare%2Fapp"');
    const response = await postForm(root, '/repository/delete?name=bare/app');
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/repositories?deleted=bare%2Fapp');
    expect((await root.browse('/repository?name=bare/app')).status).toBe(404);
    if (!berth.bucket) await expect(readdir(path.join(berth.root, 'bare', 'app'))).rejects.toThrow(/ENOENT/);
  });
});

/** What the untagged tests pushed, shared between them. */
const cleanup = {} as Record<'index' | 'amd' | 'arm' | 'first', Pushed> & { old: { index: Pushed; amd: Pushed; arm: Pushed } };

describe("an index's size", () => {
  it('is what a pull on linux/amd64 fetches, with the sum of all platforms beside it', async () => {
    const { index, amd, arm } = await pushIndex('size/app', 'multi', 300_000, 700_000);
    const all = index.size + amd.total + arm.total;
    expect(formatBytes(amd.total)).not.toBe(formatBytes(all));
    const text = await page(rita, '/repository?name=size/app');
    expect(text).toContain(
      `<td class="number" data-label="Size">${formatBytes(amd.total)}<span class="muted small"> (linux/<wbr>amd64)</span><br><span class="muted small">all platforms ${formatBytes(all)}</span></td>`,
    );
    const image = await page(rita, '/image?name=size/app&ref=multi');
    expect(image).toContain(`${formatBytes(amd.total)} pulled on linux/amd64; ${formatBytes(all)} for all platforms`);
    // Each platform's own size, in the Platforms table.
    for (const [platform, child] of [
      ['linux/amd64', amd],
      ['linux/arm64', arm],
    ] as const) {
      expect(image).toMatch(new RegExp(`<th scope="row">${platform}</th>[\\s\\S]*?<td class="number" data-label="Size">${formatBytes(child.total)}</td>`));
    }
  });

  it('without linux/amd64, is that of the first real platform (not an attestation of platform unknown)', async () => {
    const attestation = await pushReferrerless('size/arm', 'application/vnd.in-toto+json');
    const arm = await pushPlatformImage('size/arm', '', { architecture: 'arm64', layerBytes: 5000 });
    const platform = (os: string, architecture: string) => ({ os, architecture });
    await pushDocument(
      'size/arm',
      'v1',
      {
        manifests: [
          { ...strip(attestation), platform: platform('unknown', 'unknown') },
          { ...strip(arm), platform: platform('linux', 'arm64') },
        ],
      },
      OCI_INDEX,
    );
    const text = await page(rita, '/repository?name=size/arm');
    expect(text).toContain(`${formatBytes(arm.total)}<span class="muted small"> (linux/<wbr>arm64)</span>`);
    expect(text).not.toContain('unknown/unknown');
  });
});

/** An artifact manifest of `artifactType` with no subject (as buildx lists attestations in an index). */
async function pushReferrerless(name: string, artifactType: string): Promise<Pushed> {
  const empty = Buffer.from('{}');
  const payload = Buffer.from(`${artifactType} statement`);
  return pushDocument(name, '', { artifactType, config: descriptor(OCI_EMPTY, empty), layers: [descriptor('application/octet-stream', payload)] }, OCI_MANIFEST, [empty, payload]);
}

describe('signatures and SBOMs', () => {
  const KNOWN: Array<[string, string]> = [
    ['application/vnd.dev.cosign.artifact.sig.v1+json', 'Signed (cosign)'],
    ['application/vnd.cncf.notary.signature', 'Signed (notation)'],
    ['application/spdx+json', 'SBOM (SPDX)'],
    ['application/vnd.cyclonedx+json', 'SBOM (CycloneDX)'],
    ['application/vnd.in-toto+json', 'Attestation (in-toto)'],
    ['application/vnd.dev.sigstore.bundle.v0.3+json', 'Attestation (Sigstore bundle)'],
  ];
  /** The badge labels in `html`, in order. */
  const badges = (text: string) =>
    [...text.matchAll(/<span class="badge badge-(?:signature|sbom|attestation)" title="Present, not verified">([^<]+)<span class="visually-hidden"> \(not verified\)<\/span><\/span>/g)].map(
      (match) => match[1],
    );
  const rowOf = (text: string, tag: string) => new RegExp(`<tr>\\s*<th scope="row"><a href="[^"]*">${tag.replaceAll('.', '\\.')}</a></th>[\\s\\S]*?</tr>`).exec(text)?.[0] ?? '';

  it('show referrers of the usual artifact types as badges on the tag row and the image page, as present and not verified', async () => {
    const image = await pushPlatformImage('signed/app', 'v1');
    const carriers = new Map<string, string>();
    for (const [artifactType, label] of KNOWN) carriers.set(label, (await pushReferrer('signed/app', image, artifactType)).digest);
    // A type nobody should read as a signature gets no badge (markup cannot get in: the push validates artifactType).
    await pushReferrer('signed/app', image, 'application/vnd.example.unknown+json');
    const unsigned = await pushPlatformImage('signed/app', 'v0');
    expect(unsigned.digest).not.toBe(image.digest);
    const text = await page(rita, '/repository?name=signed/app');
    expect(badges(rowOf(text, 'v1'))).toEqual(KNOWN.map(([, label]) => label));
    expect(badges(rowOf(text, 'v0'))).toEqual([]);
    const detail = await page(rita, '/image?name=signed/app&ref=v1');
    expect(badges(detail)).toEqual(KNOWN.map(([, label]) => label));
    expect(detail).toContain('present, not verified');
    for (const [label, digest] of carriers) expect(detail, label).toContain(`<a href="/image?name=signed%2Fapp&amp;ref=${encodeURIComponent(digest)}" class="badge-link"> <span class="badge badge-`);
  });

  it("list cosign's sha256-<hex>.sig/.att/.sbom tags with the image they belong to, not as ordinary tags", async () => {
    // One whose image is not in the repository stays an ordinary tag.
    const stray = `sha256-${'0'.repeat(64)}.sig`;
    await pushReferrerless('signed/tags', 'application/vnd.example.stray').then((pushed) => putTag('signed/tags', stray, pushed));
    const image = await pushPlatformImage('signed/tags', 'v2');
    const hex = image.digest.slice('sha256:'.length);
    for (const suffix of ['sig', 'att', 'sbom']) await pushReferrerless('signed/tags', `application/vnd.example.${suffix}`).then((pushed) => putTag('signed/tags', `sha256-${hex}.${suffix}`, pushed));
    const text = await page(rita, '/repository?name=signed/tags');
    expect(tagsOf(text)).toEqual(['v2', stray]);
    expect(text).toContain('5 tags');
    expect(text).toContain('3 cosign signature or attestation tags, shown with the image each belongs to');
    expect(badges(rowOf(text, 'v2'))).toEqual(['Signed (cosign)', 'Attestation (cosign)', 'SBOM (cosign)']);
    const detail = await page(rita, '/image?name=signed/tags&ref=v2');
    expect(detail).toContain(`<a href="/image?name=signed%2Ftags&amp;ref=sha256-${hex}.sig" class="badge-link">`);
    // The Pull panel offers the newest image, not the signature tags pushed after it.
    expect(/data-pull-tag="([^"]+)"/.exec(text)?.[1]).toBe('v2');
  });
});

/** Puts an already pushed manifest under `tag` too. */
async function putTag(name: string, tag: string, pushed: Pushed): Promise<void> {
  const bytes = Buffer.from(await (await fetch(`${berth.url}/v2/${name}/manifests/${pushed.digest}`, { headers: { ...ADMIN, accept: pushed.mediaType } })).arrayBuffer());
  await putManifest(berth.url, name, tag, { mediaType: pushed.mediaType, digest: pushed.digest, size: bytes.length, bytes }, ADMIN);
}
