/**
 * The web UI's homelab features over HTTP, asserted on the server-rendered HTML: tag and repository
 * sorts both ways, page numbers with a jump, push instructions on empty pages, untagged manifests
 * explained and cleaned up (and an empty repository deleted) by whoever may delete, an index's
 * size as pulled on linux/amd64, signatures and SBOMs shown as such, and safe links from
 * image labels. Attack rows beside each: a reader's posts, a missing CSRF token, hostile labels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type TestServer } from '../helpers/server.js';
import { writeHtpasswd, basicAuth } from '../helpers/htpasswd.js';
import { pushImage } from '../helpers/registry-api.js';
import { signInWithPassword, type UiSession } from '../helpers/ui-session.js';

let berth: TestServer;
let root: UiSession;
let rita: UiSession;
const ADMIN = { authorization: basicAuth('root', 'root-pw') };

beforeAll(async () => {
  const htpasswd = await writeHtpasswd({ root: 'root-pw', rita: 'rita-pw' });
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
});

afterAll(async () => {
  await berth?.close();
});

const page = async (session: UiSession, target: string) => {
  const response = await session.browse(target);
  expect(response.status, target).toBe(200);
  return response.text();
};
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
  });

  it('sorts repositories by name or last push, both ways', async () => {
    for (const name of ['sort/b', 'sort/a', 'sort/c']) await pushImage(berth.url, name, 'v1', { layers: 1, headers: ADMIN });
    const names = async (sort: string) => [...(await page(root, `/repositories?q=sort/&sort=${sort}`)).matchAll(/class="row-title" href="[^"]*">([^<]+)</g)].map((match) => match[1]);
    expect(await names('name')).toEqual(['sort/a', 'sort/app', 'sort/b', 'sort/c']);
    expect(await names('-name')).toEqual(['sort/c', 'sort/b', 'sort/app', 'sort/a']);
    expect(await names('pushed')).toEqual(['sort/c', 'sort/a', 'sort/b', 'sort/app']);
    expect(await names('-pushed')).toEqual(['sort/app', 'sort/b', 'sort/a', 'sort/c']);
    expect(await page(rita, '/repositories?sort=-pushed')).toMatch(/<option value="-pushed" selected>/);
  });
});
