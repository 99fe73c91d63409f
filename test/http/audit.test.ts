/**
 * The audit log, route by route: each row performs one request against a real Berth (password
 * users, API keys, the web UI and a real OpenID provider) and expects exactly one new line with
 * its event, outcome and facts, or none for a read. At the end, no password, API key, cookie,
 * authorization code or state is anywhere in the file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, waitForDiscovery, type TestServer } from '../helpers/server.js';
import { startOidcProvider, type OidcTestProvider } from '../helpers/oidc-provider.js';
import { fetchWithJar, loginThroughProvider, type StoppedLogin } from '../helpers/oidc-login.js';
import { basicAuth, writeHtpasswd } from '../helpers/htpasswd.js';
import { pushImage, type PushedImage } from '../helpers/registry-api.js';
import { scratchDir } from '../helpers/scratch.js';
import { formTokenOf, postPasswordForm, signInWithPassword, UI_HEADER, type UiSession } from '../helpers/ui-session.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci.js';

const PASSWORDS = { ci: 'ci-secret-pw', reader: 'reader-secret-pw', carol: 'carol-local-pw' };
/** Wrong passwords tried: secrets too (a typo is often one letter off the real one). */
const WRONG = ['wrong-pw-push', 'wrong-pw-read', 'wrong-pw-ui', 'wrong-pw-form', 'wrong-pw-token'];
const BEARER = 'Bearer some-bearer-token-value';
const CLIENT_SECRET = 'client-secret-never-logged';
const CI = { authorization: basicAuth('ci', PASSWORDS.ci) };
const READER = { authorization: basicAuth('reader', PASSWORDS.reader) };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const MANIFEST = { 'content-type': OCI_MANIFEST };

let op: OidcTestProvider;
let berth: TestServer;
let auditFile: string;
let image: PushedImage;
/** What must never show in the file: filled as the rows see them. */
const secrets = new Set<string>([...Object.values(PASSWORDS), ...WRONG, BEARER, CLIENT_SECRET]);

beforeAll(async () => {
  op = await startOidcProvider();
  const dir = await scratchDir('audit');
  auditFile = path.join(dir, 'audit.log');
  const credentialsFile = path.join(dir, 'oidc.json');
  await writeFile(credentialsFile, JSON.stringify({ clientid: 'berth', clientsecret: CLIENT_SECRET }));
  berth = await startBerth({
    trustProxy: ['127.0.0.1'],
    config: {
      log: { audit: auditFile },
      extensions: { ui: { enable: true } },
      http: {
        auth: {
          htpasswd: { path: await writeHtpasswd(PASSWORDS) },
          apikey: true,
          // The token endpoint's rows (workload ID tokens have their own tests: registry-token.test.ts).
          bearer: { realm: 'https://registry.example/zot/auth/token', service: 'registry.example' },
          openid: { providers: { oidc: { name: 'Pocket ID', issuer: op.issuer, credentialsFile, scopes: ['openid', 'profile', 'groups'], claimMapping: { username: 'preferred_username' } } } },
        },
        accessControl: { repositories: { '**': { policies: [{ users: ['ci'], actions: ['read', 'create', 'update', 'delete'] }], defaultPolicy: ['read'] } } },
      },
    },
  });
  await op.setClient({ clientId: 'berth', clientSecret: CLIENT_SECRET, redirectUris: [`${berth.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${berth.url}/`] });
  await waitForDiscovery(berth);
  image = await pushImage(berth.url, 'audit/app', 'v1', { headers: CI });
});

afterAll(async () => {
  await berth?.close();
  await op?.close();
});

async function lines(): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(auditFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** How many lines there are once the (asynchronous) writer has stopped writing. */
async function settledCount(): Promise<number> {
  let count = (await lines()).length;
  for (;;) {
    await sleep(100);
    const next = (await lines()).length;
    if (next === count) return count;
    count = next;
  }
}

/** The lines written since `before`, once the (asynchronous) writer has caught up. */
async function newLines(before: number, expected: number): Promise<Array<Record<string, unknown>>> {
  for (let waited = 0; waited < 2_000 && (await lines()).length < before + expected; waited += 20) await sleep(20);
  // Long enough for a second line of the same request to show, were there one.
  await sleep(150);
  return (await lines()).slice(before);
}

/** A form post of a signed-in browser, with the token of `page`. */
async function postForm(session: UiSession, page: string, action: string, fields: Record<string, string>): Promise<Response> {
  const token = formTokenOf(await (await session.browse(page)).text());
  return session.browse(action, { method: 'POST', body: new URLSearchParams({ csrf: token, ...fields }).toString(), headers: FORM });
}

const startUpload = async (headers: Record<string, string> = CI) => (await fetch(`${berth.url}/v2/audit/app/blobs/uploads/`, { method: 'POST', headers })).headers.get('location')!;

interface Row {
  name: string;
  /** Requests that set the row up; their lines are not the row's. */
  prepare?: () => Promise<void>;
  run: () => Promise<Response>;
  status: number;
  /** The one line the request writes (a function: facts known only once the run starts), or null: none. */
  line: Record<string, unknown> | (() => Record<string, unknown>) | null;
}

let session: UiSession;
let uploadLocation = '';
let zotKeyId = '';
let uiKeyId = '';
let stopped: StoppedLogin;
let loginCookie = '';
const layer = Buffer.from('a blob pushed whole');
const layerDigest = sha256(layer);

const rows: Row[] = [
  {
    name: 'manifest push by tag',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/v2`, { method: 'PUT', body: image.manifest, headers: { ...CI, ...MANIFEST } }),
    status: 201,
    line: () => ({ event: 'manifest-push', outcome: 'ok', user: 'ci', via: 'htpasswd', repository: 'audit/app', tag: 'v2', digest: image.digest }),
  },
  {
    name: 'manifest push by digest',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/${image.digest}`, { method: 'PUT', body: image.manifest, headers: { ...CI, ...MANIFEST } }),
    status: 201,
    line: () => ({ event: 'manifest-push', outcome: 'ok', user: 'ci', repository: 'audit/app', digest: image.digest }),
  },
  {
    name: 'manifest push refused: no right',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/v3`, { method: 'PUT', body: image.manifest, headers: { ...READER, ...MANIFEST } }),
    status: 403,
    line: { event: 'manifest-push', outcome: 'refused', user: 'reader', repository: 'audit/app', reason: expect.stringMatching(/^DENIED/) },
  },
  {
    name: 'manifest push refused: no credentials',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/v3`, { method: 'PUT', body: image.manifest, headers: MANIFEST }),
    status: 401,
    line: { event: 'manifest-push', outcome: 'refused', user: null, reason: expect.stringMatching(/^UNAUTHORIZED/) },
  },
  {
    name: 'manifest push refused: wrong password',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/v3`, { method: 'PUT', body: image.manifest, headers: { authorization: basicAuth('ci', WRONG[0]!), ...MANIFEST } }),
    status: 401,
    line: { event: 'manifest-push', outcome: 'refused', user: null, attemptedUser: 'ci', reason: 'invalid username or password' },
  },
  {
    name: 'manifest push refused: invalid manifest',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/v3`, { method: 'PUT', body: '{"not":"a manifest"}', headers: { ...CI, ...MANIFEST } }),
    status: 400,
    line: { event: 'manifest-push', outcome: 'refused', user: 'ci', repository: 'audit/app', tag: 'v3', reason: expect.stringMatching(/^MANIFEST_INVALID/) },
  },
  {
    name: 'tag delete (registry API)',
    run: () => fetch(`${berth.url}/v2/audit/app/manifests/v2`, { method: 'DELETE', headers: CI }),
    status: 202,
    line: { event: 'manifest-delete', outcome: 'ok', user: 'ci', repository: 'audit/app', tag: 'v2' },
  },
  {
    name: 'blob upload start',
    run: () => fetch(`${berth.url}/v2/audit/app/blobs/uploads/`, { method: 'POST', headers: CI }),
    status: 202,
    line: { event: 'blob-upload-start', outcome: 'ok', repository: 'audit/app', upload: expect.any(String) },
  },
  {
    name: 'blob upload chunk',
    prepare: async () => {
      uploadLocation = await startUpload();
    },
    run: () => fetch(`${berth.url}${uploadLocation}`, { method: 'PATCH', body: layer, headers: { ...CI, 'content-type': 'application/octet-stream', 'content-range': `0-${layer.length - 1}` } }),
    status: 202,
    line: { event: 'blob-upload-chunk', outcome: 'ok', repository: 'audit/app', upload: expect.any(String) },
  },
  {
    name: 'blob upload commit',
    run: () => fetch(`${berth.url}${uploadLocation}?digest=${layerDigest}`, { method: 'PUT', headers: CI }),
    status: 201,
    line: { event: 'blob-upload-commit', outcome: 'ok', repository: 'audit/app', digest: layerDigest },
  },
  {
    name: 'blob upload cancel',
    prepare: async () => {
      uploadLocation = await startUpload();
    },
    run: () => fetch(`${berth.url}${uploadLocation}`, { method: 'DELETE', headers: CI }),
    status: 204,
    line: { event: 'blob-upload-cancel', outcome: 'ok', repository: 'audit/app', upload: expect.any(String) },
  },
  {
    name: 'monolithic upload',
    run: () => fetch(`${berth.url}/v2/audit/other/blobs/uploads/?digest=${layerDigest}`, { method: 'POST', body: layer, headers: { ...CI, 'content-type': 'application/octet-stream' } }),
    status: 201,
    line: { event: 'blob-upload-commit', outcome: 'ok', repository: 'audit/other', digest: layerDigest },
  },
  {
    name: 'mount',
    run: () => fetch(`${berth.url}/v2/audit/mounted/blobs/uploads/?mount=${layerDigest}&from=audit/app`, { method: 'POST', headers: CI }),
    status: 201,
    line: { event: 'blob-mount', outcome: 'ok', repository: 'audit/mounted', from: 'audit/app', digest: layerDigest },
  },
  {
    name: 'mount of a blob the source lacks: an upload starts',
    run: () => fetch(`${berth.url}/v2/audit/mounted/blobs/uploads/?mount=${sha256('absent')}&from=audit/app`, { method: 'POST', headers: CI }),
    status: 202,
    line: { event: 'blob-upload-start', outcome: 'ok', repository: 'audit/mounted', upload: expect.any(String) },
  },
  {
    name: 'blob delete',
    run: () => fetch(`${berth.url}/v2/audit/other/blobs/${layerDigest}`, { method: 'DELETE', headers: CI }),
    status: 202,
    line: { event: 'blob-delete', outcome: 'ok', repository: 'audit/other', digest: layerDigest },
  },
  { name: 'read: not audited', run: () => fetch(`${berth.url}/v2/audit/app/manifests/v1`, { headers: READER }), status: 200, line: null },
  { name: 'version check with a password (no UI): not audited', run: () => fetch(`${berth.url}/v2/`, { headers: CI }), status: 200, line: null },
  { name: 'read without credentials: not audited', run: () => fetch(`${berth.url}/v2/audit/app/tags/list`), status: 401, line: null },
  {
    name: 'failed credentials on a read',
    run: () => fetch(`${berth.url}/v2/audit/app/tags/list`, { headers: { authorization: basicAuth('reader', WRONG[1]!) } }),
    status: 401,
    line: { event: 'authenticate', outcome: 'refused', user: null, attemptedUser: 'reader', reason: 'invalid username or password' },
  },
  {
    name: 'another scheme on a read',
    run: () => fetch(`${berth.url}/v2/audit/app/tags/list`, { headers: { authorization: BEARER } }),
    status: 401,
    line: { event: 'authenticate', outcome: 'refused', reason: expect.stringMatching(/scheme/) },
  },
  {
    name: 'blocked sign-in attempt',
    prepare: async () => {
      for (let index = 0; index < 10; index += 1) await fetch(`${berth.url}/v2/`, { headers: { 'x-forwarded-for': '192.0.2.77', authorization: basicAuth('ghost', `guess-${index}`) } });
    },
    run: () => fetch(`${berth.url}/v2/`, { headers: { 'x-forwarded-for': '192.0.2.77', authorization: basicAuth('ghost', 'guess') } }),
    status: 429,
    line: { event: 'authenticate', outcome: 'blocked', attemptedUser: 'ghost', ip: '192.0.2.77', reason: expect.stringMatching(/too many failed sign-ins/) },
  },
  {
    name: 'UI sign-in (GET /v2/ with a password)',
    run: () => fetch(`${berth.url}/v2/`, { headers: { ...UI_HEADER, ...CI } }),
    status: 200,
    line: { event: 'sign-in', outcome: 'ok', user: 'ci', provider: 'htpasswd' },
  },
  {
    name: 'UI sign-in with a wrong password',
    run: () => fetch(`${berth.url}/v2/`, { headers: { ...UI_HEADER, authorization: basicAuth('ci', WRONG[2]!) } }),
    status: 401,
    line: { event: 'sign-in', outcome: 'refused', user: null, attemptedUser: 'ci' },
  },
  { name: 'password form sign-in', run: () => postPasswordForm(berth.url, 'reader', PASSWORDS.reader), status: 303, line: { event: 'sign-in', outcome: 'ok', user: 'reader', provider: 'htpasswd' } },
  {
    name: 'password form with a wrong password',
    run: () => postPasswordForm(berth.url, 'reader', WRONG[3]!),
    status: 401,
    line: { event: 'sign-in', outcome: 'refused', user: null, attemptedUser: 'reader', provider: 'htpasswd' },
  },
  {
    name: 'API key create (zot endpoint)',
    run: async () => {
      const response = await fetch(`${berth.url}/zot/auth/apikey`, { method: 'POST', body: JSON.stringify({ label: 'ci robot' }), headers: CI });
      const created = (await response.clone().json()) as { uuid: string; apiKey: string };
      zotKeyId = created.uuid;
      secrets.add(created.apiKey);
      return response;
    },
    status: 201,
    line: { event: 'api-key-create', outcome: 'ok', user: 'ci', label: 'ci robot', keyId: expect.any(String) },
  },
  {
    name: 'API key create refused to an API key',
    run: async () =>
      fetch(`${berth.url}/zot/auth/apikey`, {
        method: 'POST',
        body: '{"label":"x"}',
        headers: {
          authorization: basicAuth(
            'ci',
            [...secrets].find((secret) => secret.startsWith('zak_'))!,
          ),
        },
      }),
    status: 401,
    line: { event: 'api-key-create', outcome: 'refused', user: 'ci', via: 'apikey' },
  },
  {
    name: 'API key revoke (zot endpoint)',
    run: () => fetch(`${berth.url}/zot/auth/apikey?id=${zotKeyId}`, { method: 'DELETE', headers: CI }),
    status: 200,
    line: { event: 'api-key-revoke', outcome: 'ok', user: 'ci', keyId: expect.any(String) },
  },
  {
    name: 'API key revoke of an unknown key',
    run: () => fetch(`${berth.url}/zot/auth/apikey?id=no-such-key`, { method: 'DELETE', headers: CI }),
    status: 400,
    line: { event: 'api-key-revoke', outcome: 'refused', keyId: 'no-such-key' },
  },
  {
    name: 'API key create (UI form)',
    prepare: async () => {
      session = await signInWithPassword(berth.url, 'ci', PASSWORDS.ci);
      secrets.add(session.cookie.split('; ')[0]!.split('=')[1]!);
    },
    run: async () => {
      const response = await postForm(session, '/account', '/account/api-keys', { label: 'from the ui', expiresInDays: '90' });
      // The key is shown on the page the POST redirects to, carried there by a sealed cookie.
      const carried = response.headers
        .getSetCookie()
        .find((line) => line.startsWith('berth_new_key='))!
        .split(';')[0]!;
      const shown = await session.browse(response.headers.get('location')!, { headers: { cookie: `${session.cookie}; ${carried}` } });
      secrets.add(/zak_[\w-]+/.exec(await shown.text())![0]);
      const keys = (await (await fetch(`${berth.url}/zot/auth/apikey`, { headers: CI })).json()) as { apiKeys: Array<{ uuid: string; label: string }> };
      uiKeyId = keys.apiKeys.find((key) => key.label === 'from the ui')!.uuid;
      return response;
    },
    status: 303,
    line: { event: 'api-key-create', outcome: 'ok', user: 'ci', via: 'session', label: 'from the ui', keyId: expect.any(String) },
  },
  {
    name: 'API key revoke (UI form)',
    run: () => postForm(session, '/account', '/account/api-keys/revoke', { id: uiKeyId }),
    status: 303,
    line: { event: 'api-key-revoke', outcome: 'ok', user: 'ci', via: 'session', keyId: expect.any(String) },
  },
  {
    name: 'tag delete (UI form)',
    run: () => postForm(session, '/repository?name=audit/app', '/repository/delete-tag?name=audit/app&tag=v1', {}),
    status: 303,
    line: { event: 'tag-delete', outcome: 'ok', user: 'ci', repository: 'audit/app', tag: 'v1' },
  },
  {
    name: 'untagged manifests delete (UI form)',
    prepare: async () => {
      // v3 moves: the image it named is left untagged.
      await pushImage(berth.url, 'audit/tidy', 'v3', { headers: CI });
      await pushImage(berth.url, 'audit/tidy', 'v3', { headers: CI });
    },
    run: () => postForm(session, '/repository?name=audit/tidy', '/repository/delete-untagged?name=audit/tidy', {}),
    status: 303,
    line: { event: 'untagged-delete', outcome: 'ok', user: 'ci', via: 'session', repository: 'audit/tidy', reason: '1 manifests removed' },
  },
  {
    name: 'untagged manifests delete refused: no form token',
    run: () => session.browse('/repository/delete-untagged?name=audit/tidy', { method: 'POST', body: '', headers: FORM }),
    status: 403,
    line: { event: 'untagged-delete', outcome: 'refused', user: 'ci', repository: 'audit/tidy' },
  },
  {
    name: 'repository delete (UI form)',
    prepare: async () => {
      await fetch(`${berth.url}/v2/audit/tidy/manifests/v3`, { method: 'DELETE', headers: CI });
    },
    run: () => postForm(session, '/repository?name=audit/tidy', '/repository/delete?name=audit/tidy', {}),
    status: 303,
    line: { event: 'repository-delete', outcome: 'ok', user: 'ci', via: 'session', repository: 'audit/tidy', reason: 'repository removed with 1 manifests' },
  },
  {
    name: 'repository delete refused: tags left',
    prepare: async () => {
      await pushImage(berth.url, 'audit/kept', 'v1', { headers: CI });
    },
    run: () => postForm(session, '/repository?name=audit/kept', '/repository/delete?name=audit/kept', {}),
    status: 409,
    line: { event: 'repository-delete', outcome: 'refused', user: 'ci', repository: 'audit/kept' },
  },
  { name: 'sign-out (UI form)', run: () => postForm(session, '/account', '/logout', {}), status: 303, line: { event: 'sign-out', outcome: 'ok', user: 'ci', provider: 'htpasswd' } },
  {
    name: 'sign-out (zot endpoint)',
    prepare: async () => {
      session = await signInWithPassword(berth.url, 'reader', PASSWORDS.reader);
      secrets.add(session.cookie.split('; ')[0]!.split('=')[1]!);
    },
    run: () => session.api('/zot/auth/logout', { method: 'POST' }),
    status: 200,
    line: { event: 'sign-out', outcome: 'ok', user: 'reader', provider: 'htpasswd' },
  },
  {
    name: 'sign-out without a session',
    run: () => fetch(`${berth.url}/zot/auth/logout`, { method: 'POST', headers: UI_HEADER }),
    status: 401,
    line: { event: 'sign-out', outcome: 'refused', user: null },
  },
  {
    name: 'OIDC sign-in',
    run: async () => {
      const login = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice' });
      if (login.code) secrets.add(login.code);
      secrets.add(login.jar.get(berth.url, 'session')!.value);
      return login.response;
    },
    status: 302,
    line: { event: 'sign-in', outcome: 'ok', user: 'alice', provider: 'oidc' },
  },
  {
    name: 'OIDC callback replayed',
    prepare: async () => {
      stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'bob', stopBeforeCallback: true });
      secrets.add(stopped.code!);
      secrets.add(stopped.state!);
      loginCookie = stopped.jar.get(stopped.callbackUrl, 'berth_login')!.value;
      secrets.add(loginCookie);
      await fetchWithJar(stopped.jar, stopped.callbackUrl);
    },
    run: () => fetch(stopped.callbackUrl, { headers: { cookie: `berth_login=${loginCookie}` }, redirect: 'manual' }),
    status: 303,
    line: { event: 'sign-in', outcome: 'refused', user: null, provider: 'oidc', reason: 'replay' },
  },
  {
    name: 'OIDC callback without the sign-in cookie',
    prepare: async () => {
      stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'bob', stopBeforeCallback: true });
      secrets.add(stopped.code!);
    },
    run: () => fetch(stopped.callbackUrl, { redirect: 'manual' }),
    status: 303,
    line: { event: 'sign-in', outcome: 'refused', user: null, provider: 'oidc', reason: 'expired: no sign-in cookie' },
  },
  {
    name: 'OIDC callback with a forged sign-in cookie',
    run: () => fetch(stopped.callbackUrl, { headers: { cookie: 'berth_login=forged.cookie.value' }, redirect: 'manual' }),
    status: 303,
    line: { event: 'sign-in', outcome: 'refused', provider: 'oidc', reason: 'expired: the sign-in cookie is forged or too old' },
  },
  {
    name: 'OIDC callback with a forged state',
    prepare: async () => {
      stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'bob', stopBeforeCallback: true });
      secrets.add(stopped.code!);
    },
    run: () => {
      const forged = new URL(stopped.callbackUrl);
      forged.searchParams.set('state', 'forged-state-value');
      return fetchWithJar(stopped.jar, forged);
    },
    status: 303,
    line: { event: 'sign-in', outcome: 'failed', user: null, provider: 'oidc', reason: 'failed' },
  },
  {
    name: 'OIDC sign-in denied at the provider',
    prepare: async () => {
      stopped = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'bob', abortAt: 'login', stopBeforeCallback: true });
    },
    run: () => fetchWithJar(stopped.jar, stopped.callbackUrl),
    status: 303,
    line: { event: 'sign-in', outcome: 'refused', user: null, provider: 'oidc', reason: 'denied' },
  },
  {
    name: 'OIDC sign-in naming a local account',
    run: async () => (await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'carol' })).response,
    status: 303,
    line: { event: 'sign-in', outcome: 'refused', user: null, provider: 'oidc', attemptedUser: 'carol', reason: 'the name is a local htpasswd account' },
  },
  {
    name: 'OIDC sign-in with an unknown provider',
    run: () => fetch(`${berth.url}/zot/auth/login?provider=nope`, { redirect: 'manual' }),
    status: 303,
    line: { event: 'sign-in', outcome: 'refused', user: null, reason: 'unknown-provider' },
  },
  {
    name: 'registry token (Docker token flow)',
    run: async () => {
      const response = await fetch(`${berth.url}/zot/auth/token?service=registry.example&scope=repository:audit/app:pull,push`, { headers: CI });
      const { token } = (await response.clone().json()) as { token: string };
      secrets.add(token.split('.')[2]!);
      return response;
    },
    status: 200,
    line: { event: 'token', outcome: 'ok', user: 'ci', via: 'htpasswd', repository: 'audit/app' },
  },
  {
    name: 'registry token refused: wrong password',
    run: () => fetch(`${berth.url}/zot/auth/token?scope=repository:audit/app:pull`, { headers: { authorization: basicAuth('ci', WRONG[4]!) } }),
    status: 401,
    line: { event: 'token', outcome: 'refused', user: null, attemptedUser: 'ci', reason: 'invalid username or password' },
  },
  {
    name: 'registry token refused: a form password of no one',
    run: () => fetch(`${berth.url}/zot/auth/token`, { method: 'POST', headers: FORM, body: new URLSearchParams({ grant_type: 'password', username: 'reader', password: WRONG[4]! }).toString() }),
    status: 401,
    line: { event: 'token', outcome: 'refused', user: null, attemptedUser: 'reader', reason: 'invalid username or password' },
  },
];

describe('audit log', () => {
  for (const row of rows) {
    it(row.name, async () => {
      await row.prepare?.();
      const before = await settledCount();
      const response = await row.run();
      expect(response.status).toBe(row.status);
      const written = await newLines(before, row.line === null ? 0 : 1);
      if (row.line === null) {
        expect(written).toEqual([]);
        return;
      }
      const line = typeof row.line === 'function' ? row.line() : row.line;
      expect(written).toHaveLength(1);
      expect(written[0]).toMatchObject({ ...line, status: row.status, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
      expect(written[0]!.ip).toBe(line.ip ?? '127.0.0.1');
    });
  }

  it('holds no secret: no password, API key, cookie, code or state, and no query string', async () => {
    const text = await readFile(auditFile, 'utf8');
    expect(secrets.size).toBeGreaterThan(10);
    for (const secret of secrets) expect(text, 'a secret in the audit log').not.toContain(secret);
    expect(text).not.toMatch(/zak_|code=|state=|\?/);
    // Every line says how it ended, in the facts' words.
    for (const line of await lines()) expect(['ok', 'refused', 'blocked', 'failed']).toContain(line.outcome);
  });
});
