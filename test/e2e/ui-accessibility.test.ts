/**
 * Every page of the web UI in a real Chromium, light and dark, at 1280x800 and on a 390x844 phone:
 * axe-core finds no serious or critical violation, and on the phone every action and every fact of
 * a row lies inside the screen (no sideways scrolling, nothing hidden, commands wrapped rather than
 * cut, a layer's "Created by" wide enough to read). The images are what people push: a
 * multi-platform index, an image with long build steps, labels and env, a signature referring to it.
 * Saves the phone screenshots for docs/web-ui.md.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushImage, putManifest } from '../helpers/registry-api.js';
import { buildImageIndex, type Image, type Layer } from '../helpers/oci-layout.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from '../helpers/oci.js';
import { openBrowser, screenshot, visible } from '../helpers/browser.js';
import { describeViolations, seriousViolations } from '../helpers/axe.js';

const ROOT = { authorization: basicAuth('root', 'root-pw') };
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const LONG_TAG = '1.27.3-bookworm-slim-build.20241206';
let berth: TestServer;
/** The same registry with nothing pushed: what a new install shows. */
let empty: TestServer;

/** An image as a Dockerfile build leaves it: long RUN steps, a long PATH, OCI labels. */
function builtImage(): Image {
  const blob = (mediaType: string, bytes: Buffer) => ({ mediaType, digest: sha256(bytes), size: bytes.length, bytes });
  const steps = [
    '/bin/sh -c #(nop) ADD file:5d673d25da3a14ce1f6cf66e4c7fd4f4b85a3759a9d93efb3fd9ff852b5b56e4 in / ',
    'RUN /bin/sh -c set -eux; apt-get update; apt-get install -y --no-install-recommends ca-certificates curl gnupg2 libssl3 tzdata; rm -rf /var/lib/apt/lists/* # buildkit',
    'COPY --chown=app:app ./dist/server-bundle-with-a-rather-long-file-name.js /srv/app/server.js # buildkit',
  ];
  const layers: Layer[] = steps.map(() => {
    const layer = blob(OCI_LAYER, randomBytes(2048 + Math.floor(Math.random() * 4096)));
    return { ...layer, diffId: layer.digest };
  });
  const config = blob(
    OCI_CONFIG,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: '2024-12-06T10:11:12Z',
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/app/node_modules/.bin', 'NODE_OPTIONS=--max-old-space-size=4096 --enable-source-maps'],
          Entrypoint: ['/usr/bin/tini', '--', 'docker-entrypoint.sh'],
          Cmd: ['node', '/srv/app/server.js', '--config', '/etc/app/config.json'],
          WorkingDir: '/srv/app',
          ExposedPorts: { '8080/tcp': {} },
          Labels: {
            'org.opencontainers.image.source': 'https://github.com/example-organisation/a-rather-long-repository-name',
            'org.opencontainers.image.description': 'A web application with a description long enough to wrap on a phone screen.',
          },
        },
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
        history: steps.map((created_by) => ({ created: '2024-12-06T10:11:12Z', created_by })),
      }),
    ),
  );
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
    annotations: { 'org.opencontainers.image.revision': 'b1946ac92492d2347c6235b4d2611184f6d2b1946ac92492d2347c6235b4d26' },
  };
  return { manifest: blob(OCI_MANIFEST, Buffer.from(JSON.stringify(manifest))), config, layers, platform: { architecture: 'amd64', os: 'linux' } };
}

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ root: 'root-pw', nobody: 'nobody-pw' });
  const config = {
    extensions: { ui: { enable: true } },
    http: {
      auth: { htpasswd: { path: htpasswd }, apikey: true },
      accessControl: { repositories: {}, adminPolicy: { users: ['root'], actions: ['read', 'create', 'update', 'delete'] } },
    },
  };
  berth = await startBerth({ config });
  empty = await startBerth({ config });
  const index = await buildImageIndex(undefined, { layers: 2, filesPerLayer: 1, maxFileBytes: 4096, label: 'a11y-multi' });
  for (const image of index.images) await pushImage(berth.url, 'team/web-application', image.manifest.digest, { image, headers: ROOT });
  await putManifest(berth.url, 'team/web-application', '1.0', index.index, ROOT);
  const built = await pushImage(berth.url, 'team/web-application', LONG_TAG, { image: builtImage(), headers: ROOT });
  await putManifest(berth.url, 'team/web-application', 'latest', { mediaType: OCI_MANIFEST, digest: built.digest, size: built.manifest.length, bytes: built.manifest }, ROOT);
  await pushImage(berth.url, 'team/web-application', 'sha256-signature', {
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    subject: { digest: built.digest, mediaType: OCI_MANIFEST, size: built.manifest.length },
    headers: ROOT,
  });
  await pushImage(berth.url, 'library/alpine', '3.20', { headers: ROOT });
}, 120_000);

afterAll(async () => {
  await berth?.close();
  await empty?.close();
});

/** A page to visit, and what shows it has loaded. */
interface Visit {
  name: string;
  path: string;
  ready: (page: Page) => Promise<void>;
}

const heading = (text: string) => (page: Page) => visible(page.getByRole('heading', { level: 1, name: text }));

const SIGNED_IN: Visit[] = [
  { name: 'repositories', path: '/repositories', ready: heading('Repositories') },
  { name: 'repositories search', path: '/repositories?q=web', ready: heading('Repositories') },
  { name: 'repositories no match', path: '/repositories?q=nothing-here', ready: heading('Repositories') },
  { name: 'repository', path: '/repository?name=team/web-application', ready: heading('team/web-application') },
  { name: 'repository filtered', path: '/repository?name=team/web-application&q=1.', ready: heading('team/web-application') },
  { name: 'image', path: `/image?name=team/web-application&ref=${LONG_TAG}`, ready: heading(`team/web-application:${LONG_TAG}`) },
  { name: 'index', path: '/image?name=team/web-application&ref=1.0', ready: heading('team/web-application:1.0') },
  { name: 'account', path: '/account', ready: heading('Account') },
  { name: 'not found', path: '/no/such/page', ready: heading('No such page') },
];

async function signIn(page: Page, username: string, password: string, server = berth): Promise<void> {
  await page.goto(`${server.url}/login`);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${server.url}/repositories`);
}

/**
 * What is wrong with the page's layout in a window `width` wide, in words (empty when nothing is). Runs in the
 * page (written as source text: the test project's types have no DOM).
 */
const LAYOUT_PROBLEMS = `(width) => {
  const problems = [];
  const scrolling = document.scrollingElement;
  if (scrolling.scrollWidth > width) problems.push('the page scrolls sideways: ' + scrolling.scrollWidth + ' px wide');
  const describe = (element) => element.tagName.toLowerCase() + ' "' + (element.getAttribute('aria-label') ?? element.textContent ?? '').trim().slice(0, 60) + '"';
  const outside = (element) => {
    const box = element.getBoundingClientRect();
    return box.left < 0 || box.right > width + 0.5;
  };
  const shown = (element) => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== 'hidden';
  // Every action: links, buttons (the copy buttons too), fields.
  for (const action of document.querySelectorAll('header a:not(.skip), header button, main a, main button, main input:not([type="hidden"]), main select, main summary')) {
    if (shown(action) && outside(action)) problems.push(describe(action) + ' is outside the screen');
  }
  // Every fact of a table row: shown, and on the screen.
  for (const cell of document.querySelectorAll('main tbody th, main tbody td')) {
    if (!shown(cell)) problems.push(describe(cell) + ' is hidden');
    else if (outside(cell)) problems.push(describe(cell) + ' is outside the screen');
  }
  // On a phone a cell is named by its column through data-label (key/value tables and the actions need none).
  for (const cell of document.querySelectorAll('main .table-wrap tbody td:not([data-label]):not(.actions)')) {
    if (!cell.closest('table.pairs')) problems.push(describe(cell) + ' has no data-label');
  }
  // Commands are wrapped, not cut.
  for (const code of document.querySelectorAll('main .copyable code')) {
    if (code.scrollWidth > code.clientWidth + 1) problems.push(describe(code) + ' is cut at ' + code.clientWidth + ' px');
  }
  return problems;
}`;

async function layoutProblems(page: Page, width: number): Promise<string[]> {
  return (await page.evaluate(`(${LAYOUT_PROBLEMS})(${width})`)) as string[];
}

describe.each(['light', 'dark'] as const)('the %s theme', (colorScheme) => {
  it.each([
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const)(
    'every page at %s size has no serious axe violation and fits',
    async (size, viewport) => {
      const browser = await openBrowser({ colorScheme });
      try {
        const page = await browser.page();
        await page.setViewportSize(viewport);
        const failures: string[] = [];
        const check = async (name: string) => {
          const violations = await seriousViolations(page);
          if (violations.length > 0) failures.push(`${name}:\n${describeViolations(violations)}`);
          for (const problem of await layoutProblems(page, viewport.width)) failures.push(`${name}: ${problem}`);
        };

        await page.goto(`${berth.url}/login`);
        await heading('Sign in to Berth')(page);
        await check('sign-in');
        // Someone who may read nothing, and an admin of an empty registry: the empty list.
        await signIn(page, 'nobody', 'nobody-pw');
        expect(await page.locator('#results .row').count()).toBe(0);
        await check('repositories (none readable)');
        await browser.newUser();
        await signIn(page, 'root', 'root-pw', empty);
        expect(await page.locator('#results .row').count()).toBe(0);
        await check('repositories (empty registry)');
        await browser.newUser();

        await signIn(page, 'root', 'root-pw');
        // An API key in the list, and the page that shows a new one once.
        await page.goto(`${berth.url}/account`);
        await page.getByLabel('Label').fill(`laptop ${size} ${colorScheme}`);
        await page.getByRole('button', { name: 'Create key' }).click();
        await visible(page.getByRole('heading', { name: `Your new API key “laptop ${size} ${colorScheme}”` }));
        await check('account with a new key');

        for (const visit of SIGNED_IN) {
          await page.goto(`${berth.url}${visit.path}`);
          await visit.ready(page);
          // berth.js has revealed the copy buttons (they are hidden without it).
          if (visit.name === 'repository') await visible(page.getByRole('button', { name: `Copy the docker pull command` }));
          await check(visit.name);
        }
        expect(failures.join('\n\n')).toBe('');

        if (size === 'desktop') {
          // A table is a Tab stop exactly when it scrolls sideways: in a window too narrow for it
          // (above the phone layout's width) the keyboard can reach and scroll it.
          await page.goto(`${berth.url}/repository?name=team/web-application`);
          const tags = page.getByRole('region', { name: 'Tag table' });
          const scrolls = await tags.evaluate((region) => region.scrollWidth > region.clientWidth);
          expect(await tags.getAttribute('tabindex')).toBe(scrolls ? '0' : null);
          expect(scrolls).toBe(false);
          await page.setViewportSize({ width: 700, height: 800 });
          // Polled from here: a string predicate is eval'd in the page, which its CSP (no unsafe-eval) may refuse.
          await expect.poll(() => tags.getAttribute('tabindex')).toBe('0');
          expect(await tags.evaluate((region) => region.scrollWidth > region.clientWidth)).toBe(true);
          expect(describeViolations(await seriousViolations(page))).toBe('');
        }

        if (size === 'phone') {
          // A layer's "Created by" gets the card's width, not a squeezed column.
          await page.goto(`${berth.url}/image?name=team/web-application&ref=${LONG_TAG}`);
          const createdBy = await page.locator('table.layers tbody td').filter({ hasText: 'apt-get install' }).boundingBox();
          expect(createdBy!.width).toBeGreaterThanOrEqual(300);
          // Each tag's actions all on the screen: docker, podman, by digest, delete.
          await page.goto(`${berth.url}/repository?name=team/web-application`);
          for (const name of [`Copy docker pull command for ${LONG_TAG}`, `Copy podman pull command for ${LONG_TAG}`, `Copy podman pull by digest command for ${LONG_TAG}`, `Delete tag ${LONG_TAG}`]) {
            const box = (await page.getByRole('button', { name, exact: true }).boundingBox())!;
            expect(box.x, name).toBeGreaterThanOrEqual(0);
            expect(box.x + box.width, name).toBeLessThanOrEqual(PHONE.width);
          }
        }

        if (colorScheme === 'light' && size === 'phone') {
          await page.goto(`${berth.url}/repositories`);
          await screenshot(page, 'phone-repositories');
          await page.goto(`${berth.url}/repository?name=team/web-application`);
          // The tags and the layers as cards, rather than the top of each page.
          await page.evaluate("document.getElementById('tags-title').scrollIntoView()");
          await screenshot(page, 'phone-repository');
          await page.goto(`${berth.url}/image?name=team/web-application&ref=${LONG_TAG}`);
          await page.evaluate("document.getElementById('layers-title').scrollIntoView()");
          await screenshot(page, 'phone-image');
        }
      } finally {
        await browser.close();
      }
    },
    120_000,
  );
});
