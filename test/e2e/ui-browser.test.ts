/**
 * The web UI in a real headless Chromium, against a real OpenID Provider (the oidc-provider
 * harness standing in for Pocket ID) and images pushed by skopeo: signing in by clicking the
 * provider's button, what an admin and a reader each see, an API key made in the page and used by
 * skopeo, deleting a tag, signing out through the provider, the password form, and a refused
 * consent shown in words. Saves a screenshot of each page for the README.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { writeHtpasswd, basicAuth } from '../helpers/htpasswd.js';
import { TempDirs } from '../helpers/temp-dirs.js';
import { skopeo } from '../helpers/skopeo.js';
import { buildImage, buildImageIndex, writeOciLayout } from '../helpers/oci-layout.js';
import { openBrowser, screenshot, textOf, visible, type TestBrowser } from '../helpers/browser.js';

let op: OidcTestProvider;
let berth: TestServer;
let browser: TestBrowser;
let page: Page;
const dirs = new TempDirs();
const ROBOT = 'buildbot:robot-secret';

/** From Berth's sign-in page, through the provider's login and consent pages, back to Berth. */
async function signInWithProvider(username: string): Promise<void> {
  await page.goto(`${berth.url}/repositories`);
  expect(new URL(page.url()).pathname).toBe('/login');
  await page.getByRole('link', { name: 'Sign in with Pocket ID' }).click();
  await page.waitForURL(`${op.issuer}/**`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL(`${berth.url}/repositories`);
}

const repositoryNames = () => page.locator('#results .row-title').allInnerTexts();

beforeAll(async () => {
  op = await startOidcProvider();
  const htpasswd = await writeHtpasswd({ buildbot: 'robot-secret', dave: 'dave-password' });
  berth = await startBerth({
    config: {
      extensions: { ui: { enable: true } },
      http: {
        auth: {
          htpasswd: { path: htpasswd },
          openid: {
            providers: {
              oidc: {
                name: 'Pocket ID',
                issuer: op.issuer,
                clientid: 'berth',
                clientsecret: 'berth-secret',
                scopes: ['openid', 'profile', 'email', 'groups'],
                claimMapping: { username: 'preferred_username' },
              },
            },
          },
        },
        accessControl: {
          groups: { users: { users: ['dave'] } },
          repositories: {
            '**': {
              policies: [
                { groups: ['users'], actions: ['read'] },
                { users: ['buildbot'], actions: ['read', 'create'] },
              ],
            },
            'secret/**': { policies: [{ users: ['buildbot'], actions: ['read', 'create'] }] },
          },
          adminPolicy: { groups: ['admins'], actions: ['read', 'create', 'update', 'delete'] },
        },
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: 'berth-secret', redirectUris: [`${berth.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${berth.url}/`] });
  const layout = await writeOciLayout(await dirs.make('ui-source'), {
    multi: await buildImageIndex(undefined, { layers: 2, label: 'ui-multi' }),
    single: await buildImage({ layers: 3, label: 'ui-single' }),
    vault: await buildImage({ layers: 1, label: 'ui-vault' }),
  });
  const copy = (tag: string, target: string) =>
    skopeo(['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', '--dest-creds', ROBOT, layout.reference(tag), `docker://${berth.host}/${target}`]);
  await copy('multi', 'team/app:1.0');
  await copy('single', 'team/app:1.1');
  await copy('single', 'team/tools:latest');
  await copy('vault', 'secret/vault:v1');
  await waitForDiscovery(berth);
  browser = await openBrowser();
  page = await browser.page();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await berth?.close();
  await op?.close();
  await dirs.removeAll();
});

describe('an admin (alice, group admins)', () => {
  it('signs in by clicking the provider button and sees every repository', async () => {
    await page.goto(`${berth.url}/login`);
    await screenshot(page, 'sign-in');
    await signInWithProvider('alice');
    expect(await repositoryNames()).toEqual(['secret/vault', 'team/app', 'team/tools']);
    await visible(page.getByRole('link', { name: 'alice' }));
    await screenshot(page, 'repositories');
  });

  it('browses to the multi-platform image skopeo pushed, then into one platform', async () => {
    await page.getByRole('link', { name: 'team/app' }).click();
    expect(await textOf(page.getByRole('heading', { level: 1 }))).toBe('team/app');
    const rows = page.locator('table.tags tbody tr');
    expect(await rows.count()).toBe(2);
    await visible(page.getByText('linux/amd64, linux/arm64/v8'));
    await visible(page.getByRole('button', { name: 'Delete tag 1.0' }));
    expect(await textOf(page.locator('.copyable code').first())).toBe(`docker pull ${berth.host}/team/app:1.1`);
    await screenshot(page, 'repository');

    await page.getByRole('link', { name: '1.0', exact: true }).click();
    await visible(page.getByRole('heading', { name: 'Platforms' }));
    await screenshot(page, 'image-index');
    await page
      .getByRole('row', { name: /linux\/arm64\/v8/ })
      .getByRole('link')
      .click();
    await visible(page.getByRole('heading', { name: 'Configuration' }));
    await visible(page.getByText('linux/arm64/v8', { exact: true }));
    expect(await textOf(page.getByRole('row', { name: /berth\.test\.label/ }))).toContain('ui-multi-linux-arm64-v8');
    expect(await page.locator('table.layers tbody tr').count()).toBe(2);
    await visible(page.locator('table.layers').getByText('berth test layer 0 (ui-multi-linux-arm64-v8)'));
    await screenshot(page, 'image');
    // The same page as someone whose system prefers dark colours sees it.
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'image-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('creates an API key in the page, uses it with skopeo, and revokes it', async () => {
    await page.getByRole('link', { name: 'Account' }).click();
    await visible(
      page.getByText(
        'In every repository (as an administrator), you may pull, push new images and tags, move existing tags to other images and delete tags and manifests, because you are in the group “admins”.',
      ),
    );
    await page.getByLabel('Label').fill('laptop');
    await page.getByLabel('Expires after').selectOption({ label: '30 days' });
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.locator('#new-key-title ~ .copyable code').first().innerText()).trim();
    expect(key).toMatch(/^zak_[0-9a-f]{32}$/);
    await visible(page.getByText(`podman login --tls-verify=false --username alice --password '${key}' ${berth.host}`));
    await screenshot(page, 'account');

    const inspected = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--creds', `alice:${key}`, `docker://${berth.host}/secret/vault:v1`])).stdout);
    expect(inspected.Labels['berth.test.label']).toBe('ui-vault');

    // The key is shown once: the POST was answered with a redirect, so reloading the page neither
    // posts again (a second key) nor shows the secret again.
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/account?created=1');
    await page.reload();
    expect(await page.content()).not.toContain(key);
    expect(await page.getByRole('button', { name: 'Revoke API key laptop' }).count()).toBe(1);
    await page.goto(`${berth.url}/account`);
    expect(await page.content()).not.toContain(key);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Revoke API key laptop' }).click();
    await visible(page.getByText('The API key was revoked.'));
    await expect(skopeo(['inspect', '--tls-verify=false', '--creds', `alice:${key}`, `docker://${berth.host}/secret/vault:v1`])).rejects.toThrow(/401|unauthorized|authentication required/i);
  });

  it('deletes a tag after confirming', async () => {
    await page.goto(`${berth.url}/repository?name=team/tools`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete tag latest' }).click();
    await visible(page.getByText('The tag latest was deleted.'));
    expect((await fetch(`${berth.url}/v2/team/tools/manifests/latest`, { method: 'HEAD', headers: { authorization: basicAuth('buildbot', 'robot-secret') } })).status).toBe(404);
  });

  it('signs out through the provider and is signed out of Berth', async () => {
    const cookie = (await browser.context.cookies(berth.url)).find((item) => item.name === 'session')!.value;
    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.waitForURL(`${berth.url}/login?next=%2Frepositories`);
    expect(op.requests.some((request) => request.url.startsWith('/api/oidc/end-session'))).toBe(true);
    const stale = await fetch(`${berth.url}/api/ui/me`, { headers: { 'x-zot-api-client': 'zot-ui', cookie: `session=${cookie}` } });
    expect(stale.status).toBe(401);
  });
});

describe('a reader (bob, group users)', () => {
  it('sees no forbidden repository and no delete button', async () => {
    await browser.newUser();
    await signInWithProvider('bob');
    expect(await repositoryNames()).toEqual(['team/app', 'team/tools']);
    // Search as you type (berth.js over /api/ui/repositories): the list redraws, the URL follows.
    await page.getByRole('searchbox', { name: 'Search repositories' }).pressSequentially('too');
    await page.waitForURL(`${berth.url}/repositories?q=too&sort=name`);
    expect(await repositoryNames()).toEqual(['team/tools']);
    expect(await textOf(page.locator('#result-count'))).toBe('Repositories 1–1 of 1 matching “too”');
    await page.getByRole('searchbox', { name: 'Search repositories' }).fill('vault');
    await page.waitForURL(`${berth.url}/repositories?q=vault&sort=name`);
    expect(await repositoryNames()).toEqual([]);
    await page.goto(`${berth.url}/repositories`);
    // Arrowing through the sort menu redraws the list in place: no page load (WCAG 3.2.2).
    await page.evaluate(() => Object.assign(globalThis, { samePage: true }));
    await page.getByLabel('Sort by').focus();
    await page.keyboard.press('ArrowDown');
    await page.waitForURL(`${berth.url}/repositories?q=&sort=pushed`);
    // A page load would have reset the window's properties.
    expect(await page.evaluate(() => (globalThis as { samePage?: boolean }).samePage)).toBe(true);
    expect((await repositoryNames()).sort()).toEqual(['team/app', 'team/tools']);
    await page.goto(`${berth.url}/repositories`);
    await page.getByRole('link', { name: 'team/app' }).click();
    // berth.js reveals the copy buttons that are hidden without it.
    await visible(page.getByRole('button', { name: 'Copy the podman pull command' }));
    expect(await page.locator('table.tags tbody tr').count()).toBe(2);
    expect(await page.getByRole('button', { name: /Delete/ }).count()).toBe(0);
    const refused = await page.goto(`${berth.url}/repository?name=secret/vault`);
    expect(refused?.status()).toBe(403);
    await visible(page.getByRole('heading', { name: 'Not allowed' }));
    expect(await page.content()).not.toMatch(/sha256:|ui-vault/);
    await page.goto(`${berth.url}/account`);
    await visible(page.getByText('In repositories matching **, you may pull, because you are in the group “users”.'));
  });
});

describe('signing in', () => {
  it('with the password form, for an htpasswd user', async () => {
    await browser.newUser();
    await page.goto(`${berth.url}/login`);
    await page.getByLabel('User name').fill('dave');
    await page.getByLabel('Password').fill('wrong');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    expect(await textOf(page.getByRole('alert'))).toBe('Wrong user name or password.');
    await page.getByLabel('Password').fill('dave-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(`${berth.url}/repositories`);
    expect(await repositoryNames()).toEqual(['team/app', 'team/tools']);
  });

  it('explains in words when the provider refuses', async () => {
    await browser.newUser();
    await page.goto(`${berth.url}/login`);
    await page.getByRole('link', { name: 'Sign in with Pocket ID' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(`${berth.url}/login?**`);
    expect(await textOf(page.getByRole('alert'))).toBe('Pocket ID: The identity provider did not sign you in: the sign-in was cancelled or refused there.');
  });
});

/** Signs in with the login page's password form, in `tab`. */
async function signInWithPassword(tab: Page, username: string, password: string): Promise<void> {
  await tab.goto(`${berth.url}/login`);
  await tab.getByLabel('User name').fill(username);
  await tab.getByLabel('Password').fill(password);
  await tab.getByRole('button', { name: 'Sign in', exact: true }).click();
  await tab.waitForURL(`${berth.url}/repositories`);
}

describe('without JavaScript', () => {
  it('signs in with the form and shows the pull commands, but no copy button that could not work', async () => {
    const plain = await openBrowser({ javaScript: false });
    try {
      const tab = await plain.page();
      await signInWithPassword(tab, 'dave', 'dave-password');
      await tab.goto(`${berth.url}/repository?name=team/app`);
      await expect(tab.locator('.copyable code').first().textContent()).resolves.toContain(`docker pull ${berth.host}/team/app:`);
      const copyButtons = tab.locator('button[data-copy]');
      expect(await copyButtons.count()).toBeGreaterThan(3);
      for (const button of await copyButtons.all()) expect(await button.isVisible()).toBe(false);
      // With JavaScript the same buttons show.
      await browser.newUser();
      await signInWithPassword(page, 'dave', 'dave-password');
      await page.goto(`${berth.url}/repository?name=team/app`);
      await page.locator('button[data-copy]').first().waitFor({ state: 'visible' });
      for (const button of await page.locator('button[data-copy]').all()) expect(await button.isVisible()).toBe(true);
    } finally {
      await plain.close();
    }
  });
});
