/**
 * A real OpenID Provider for tests, standing in for Pocket ID: panva's `oidc-provider` on
 * 127.0.0.1 at an ephemeral port, with an http issuer (`http://127.0.0.1:<port>`; fine on loopback).
 *
 * What it does, mirroring Pocket ID (docs: /work/shared/reference/zot.md section 7):
 * - authorization code flow only (`response_type=code`), PKCE with S256 (`plain` is not offered:
 *   oidc-provider 9 dropped it). PKCE is always required for public clients (no secret,
 *   `token_endpoint_auth_method: none`) and, per client, for confidential clients too
 *   (`requirePkce: true`, Pocket ID's per-client "PKCE" switch).
 * - client auth: a client with a secret may send it with `client_secret_basic` or
 *   `client_secret_post` (oidc-provider 9 accepts both for either registered method), a public
 *   client uses `none`; a refresh token comes with every code exchange, like Pocket ID.
 * - an RS256 signing key (RSA-2048) generated at start.
 * - scopes `openid profile email groups` (+ `offline_access`), claims `sub` (a stable UUID per
 *   username), `name`, `preferred_username`, `email`, `email_verified`, and `groups` (array of group
 *   names, scope `groups`). Every scope's claims go in the ID token AND in UserInfo
 *   (`conformIdTokenClaims: false`), as Pocket ID does.
 * - endpoints at Pocket ID's paths: `/authorize`, `/api/oidc/token`, `/api/oidc/userinfo`,
 *   `/api/oidc/end-session` (GET), `/.well-known/jwks.json`; discovery at
 *   `/.well-known/openid-configuration`.
 * - RP-initiated logout: with a valid `id_token_hint` the logout needs no confirmation (the page
 *   the provider returns auto-submits its form: no user interaction, one extra POST; see
 *   logoutThroughProvider in oidc-login.ts). Without it (what zot sends: `client_id` +
 *   `post_logout_redirect_uri`) a confirmation page is shown, as Pocket ID does.
 * - its own minimal login / consent pages (no devInteractions, no network): a login form with
 *   `username` and `password` (any password unless the user has one set), then a consent form, shown
 *   the first time a user authorizes a client in a provider session. Every harness page carries
 *   `<meta name="harness-page" content="login|consent|logout-confirm|logout-auto|logout-success|error">`
 *   so oidc-login.ts can drive them over plain HTTP.
 * - fixed users `alice` (groups admins, users), `bob` (users), `carol` (no `groups` claim at all);
 *   `op.users` adds users or changes groups at runtime: claims are read at each token / UserInfo
 *   request, so a change shows at the next login.
 *
 * Usage:
 *   const op = await startOidcProvider();                     // before Berth: Berth needs op.issuer
 *   const berth = await startBerth({ config: { http: { auth: { openid: { providers: { oidc: {
 *     issuer: op.issuer, clientid: 'berth', clientsecret: 's3cret', scopes: ['openid', 'profile', 'email', 'groups'],
 *     claimMapping: { username: 'preferred_username' } } } } } } } });
 *   await op.setClient({ clientId: 'berth', clientSecret: 's3cret',      // after: needs Berth's port
 *     redirectUris: [`${berth.url}/zot/auth/callback/oidc`], postLogoutRedirectUris: [`${berth.url}/`] });
 *   // Berth discovers the provider in the background at start: a login right away may find it not ready.
 *   const login = await loginThroughProvider({ startUrl: `${berth.url}/zot/auth/login?provider=oidc`, username: 'alice' });
 *   expect(login.response.status).toBe(302);
 *   op.users.setGroups('alice', ['users']);                    // next login carries only 'users'
 *   await op.close();
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import type {
  Adapter,
  AdapterPayload,
  ClientMetadata,
  Configuration,
  FindAccount,
  JWK,
  KoaContextWithOIDC,
} from 'oidc-provider';

// ---------------------------------------------------------------------------------------------
// Users

export interface OidcUser {
  /** Login name and `preferred_username` (Pocket ID's username). */
  username: string;
  /** `sub`: a UUID, stable per username across provider restarts unless given. */
  sub: string;
  /** `name` (scope profile); omitted when undefined. */
  name?: string | undefined;
  /** `email` (scope email); omitted, with `email_verified`, when undefined (passkey-only users). */
  email?: string | undefined;
  /** `email_verified`; defaults to true when there is an email. */
  emailVerified?: boolean | undefined;
  /** `groups` (scope groups): group names. undefined: no `groups` claim at all; []: an empty array. */
  groups?: string[] | undefined;
  /** The password the login form wants; undefined: any password (or none) is accepted. */
  password?: string | undefined;
}

export type OidcUserInput = Partial<OidcUser> & { username: string };

/** A UUID-shaped `sub` derived from the username, so it survives a provider restart. */
export function subFor(username: string): string {
  const hex = createHash('sha256').update(`berth-test-oidc:${username}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export const DEFAULT_OIDC_USERS: readonly OidcUserInput[] = [
  { username: 'alice', name: 'Alice Example', email: 'alice@example.org', groups: ['admins', 'users'] },
  { username: 'bob', name: 'Bob Example', email: 'bob@example.org', groups: ['users'] },
  // No groups claim at all (a user in no Pocket ID group); add a user with `groups: []` for the
  // empty-array variant.
  { username: 'carol', name: 'Carol Example', email: 'carol@example.org' },
];

/** The provider's user directory. Every read and write copies, so callers cannot alias it. */
export class OidcUsers {
  readonly #byUsername = new Map<string, OidcUser>();

  constructor(initial: readonly OidcUserInput[] = []) {
    for (const user of initial) this.set(user);
  }

  /** Adds a user, or replaces the one with the same username. */
  set(input: OidcUserInput): OidcUser {
    const user: OidcUser = {
      ...input,
      sub: input.sub ?? subFor(input.username),
      groups: input.groups === undefined ? undefined : [...input.groups],
    };
    this.#byUsername.set(user.username, user);
    return copy(user);
  }

  /** Changes some fields of an existing user (pass `groups: undefined` to drop the claim). */
  update(username: string, patch: Partial<Omit<OidcUser, 'username'>>): OidcUser {
    const current = this.#byUsername.get(username);
    if (!current) throw new Error(`no OIDC test user ${username}`);
    return this.set({ ...current, ...patch, username });
  }

  /** Replaces a user's groups; undefined removes the `groups` claim altogether. */
  setGroups(username: string, groups: string[] | undefined): OidcUser {
    return this.update(username, { groups });
  }

  /** Deletes a user: its tokens stop resolving (token and UserInfo requests then fail). */
  remove(username: string): boolean {
    return this.#byUsername.delete(username);
  }

  get(username: string): OidcUser | undefined {
    const user = this.#byUsername.get(username);
    return user && copy(user);
  }

  bySub(sub: string): OidcUser | undefined {
    for (const user of this.#byUsername.values()) if (user.sub === sub) return copy(user);
    return undefined;
  }

  list(): OidcUser[] {
    return [...this.#byUsername.values()].map(copy);
  }
}

function copy(user: OidcUser): OidcUser {
  return { ...user, groups: user.groups === undefined ? undefined : [...user.groups] };
}

/** The claims a user has; oidc-provider keeps those of the granted scopes. */
function claimsOf(user: OidcUser): { sub: string; [claim: string]: unknown } {
  const claims: { sub: string; [claim: string]: unknown } = {
    sub: user.sub,
    preferred_username: user.username,
  };
  if (user.name !== undefined) claims.name = user.name;
  if (user.email !== undefined) {
    claims.email = user.email;
    claims.email_verified = user.emailVerified ?? true;
  }
  if (user.groups !== undefined) claims.groups = [...user.groups];
  return claims;
}

// ---------------------------------------------------------------------------------------------
// Clients

export interface OidcClientOptions {
  clientId: string;
  /** Omit for a public client: `token_endpoint_auth_method: none`, PKCE required. */
  clientSecret?: string | undefined;
  /** Exact-match redirect URIs (e.g. `<berth>/zot/auth/callback/oidc`). */
  redirectUris: string[];
  /** Exact-match `post_logout_redirect_uri` values. */
  postLogoutRedirectUris?: string[] | undefined;
  /** Require PKCE from this confidential client too (Pocket ID's per-client flag). Public clients always must. */
  requirePkce?: boolean | undefined;
  clientName?: string | undefined;
}

function clientMetadata(client: OidcClientOptions): ClientMetadata {
  const confidential = client.clientSecret !== undefined;
  return {
    client_id: client.clientId,
    ...(confidential ? { client_secret: client.clientSecret } : {}),
    // oidc-provider 9 takes the secret from either Basic or the body for both secret methods.
    token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...(client.postLogoutRedirectUris ?? [])],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    ...(client.clientName !== undefined ? { client_name: client.clientName } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Storage: a per-provider in-memory adapter (oidc-provider's own one is process-global and warns).
// Clients are served from the harness's map, so they can be set after start.

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

class MemoryStore {
  readonly entries = new Map<string, Entry>();
  readonly sessionUids = new Map<string, string>();
  readonly userCodes = new Map<string, string>();
  readonly grants = new Map<string, Set<string>>();

  get(key: string): AdapterPayload | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }
}

class HarnessAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: MemoryStore,
    private readonly findClient: (id: string) => ClientMetadata | undefined,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (this.model === 'Client') return; // clients come from the harness only
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
    this.store.entries.set(key, { payload, expiresAt });
    if (this.model === 'Session' && typeof payload.uid === 'string') this.store.sessionUids.set(payload.uid, id);
    if (typeof payload.userCode === 'string') this.store.userCodes.set(payload.userCode, id);
    if (GRANTABLE.has(this.model) && typeof payload.grantId === 'string') {
      const members = this.store.grants.get(payload.grantId) ?? new Set<string>();
      members.add(key);
      this.store.grants.set(payload.grantId, members);
    }
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.model === 'Client') return this.findClient(id);
    return this.store.get(this.key(id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = this.store.sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = this.store.userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of this.store.grants.get(grantId) ?? []) this.store.entries.delete(key);
    this.store.grants.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------------
// Provider

export interface StartOidcProviderOptions {
  /** Clients registered at start; more (or changed ones) with `setClient` later. */
  clients?: OidcClientOptions[];
  /** Extra users, added over (or replacing by username) alice, bob and carol. */
  users?: OidcUserInput[];
  /** Start without alice, bob and carol. */
  noDefaultUsers?: boolean;
  /**
   * With a valid `id_token_hint`, log out without a confirmation page (default true, like Pocket ID).
   * false: always show the confirmation page.
   */
  logoutWithoutConfirmation?: boolean;
  /** Lifetimes in seconds (defaults: codes 60, access / ID tokens 3600, session 3600). */
  ttl?: {
    AccessToken?: number;
    AuthorizationCode?: number;
    IdToken?: number;
    RefreshToken?: number;
    Session?: number;
    Interaction?: number;
    Grant?: number;
  };
  /** Print each request and every provider-side error on stderr. */
  log?: boolean;
  /** Listen on this port instead of an ephemeral one (to bring a provider up where one was down). */
  port?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/authorize?client_id=...`. */
  url: string;
}

export interface OidcTestProvider {
  /** `http://127.0.0.1:<port>`, no trailing slash: the `iss` of every token. */
  issuer: string;
  port: number;
  /** `<issuer>/.well-known/openid-configuration` */
  discoveryUrl: string;
  endpoints: {
    authorization: string;
    token: string;
    userinfo: string;
    endSession: string;
    jwks: string;
  };
  users: OidcUsers;
  /** Registers a client, or replaces the one with the same id. Throws on invalid metadata. */
  setClient(client: OidcClientOptions): Promise<void>;
  removeClient(clientId: string): boolean;
  /** The public half of the signing key (as in the JWKS). */
  publicJwk: JWK;
  /** Every request the provider received, in order (login driver steps included). */
  requests: RecordedRequest[];
  /** Errors oidc-provider reported (`server_error` and friends): expect it to stay empty. */
  errors: Error[];
  /** The oidc-provider instance, for anything the harness does not wrap. */
  provider: Provider;
  close(): Promise<void>;
}

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

export async function startOidcProvider(options: StartOidcProviderOptions = {}): Promise<OidcTestProvider> {
  const users = new OidcUsers([...(options.noDefaultUsers ? [] : DEFAULT_OIDC_USERS), ...(options.users ?? [])]);
  const clients = new Map<string, ClientMetadata>();
  const pkceRequired = new Set<string>();
  const findClient = (id: string): ClientMetadata | undefined => {
    const metadata = clients.get(id);
    return metadata && structuredClone(metadata);
  };
  const store = new MemoryStore();
  const requests: RecordedRequest[] = [];
  const errors: Error[] = [];
  const log = options.log ?? false;
  const logoutWithoutConfirmation = options.logoutWithoutConfirmation ?? true;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(8).toString('hex');
  const privateJwk: JWK = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;

  // The issuer embeds the port, so listen first and build the provider once the port is known.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/' });
    if (log) console.error(`[oidc-provider] ${req.method} ${req.url}`);
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;

  const findAccount: FindAccount = (_ctx, sub) => {
    // Resolved per request: a group change applies to the next token or UserInfo call.
    if (!users.bySub(sub)) return undefined;
    return {
      accountId: sub,
      claims: () => {
        const user = users.bySub(sub);
        if (!user) throw new Error(`OIDC test user ${sub} was removed`);
        return claimsOf(user);
      },
    };
  };

  const ttl = options.ttl ?? {};
  const configuration: Configuration = {
    adapter: (model: string) => new HarnessAdapter(model, store, findClient),
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    scopes: [...OIDC_SCOPES],
    // Claims of every granted scope in the ID token too, not only in UserInfo (Pocket ID does this).
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    jwks: { keys: [privateJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: {
      // Called only when an authorization request has no code_challenge: true refuses it.
      required: (_ctx, client) => client.clientAuthMethod === 'none' || pkceRequired.has(client.clientId),
    },
    // Pocket ID issues a refresh token on every code exchange, offline_access or not.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    routes: {
      authorization: '/authorize',
      token: '/api/oidc/token',
      userinfo: '/api/oidc/userinfo',
      end_session: '/api/oidc/end-session',
      jwks: '/.well-known/jwks.json',
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => logoutPage(ctx, form, logoutWithoutConfirmation),
        postLogoutSuccessSource: (ctx) => {
          ctx.type = 'html';
          ctx.body = page('logout-success', 'Signed out', '<h1>Signed out</h1>');
        },
      },
    },
    clientBasedCORS: () => false,
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(out.error, out.error_description);
    },
    ttl: {
      AccessToken: ttl.AccessToken ?? 3600,
      AuthorizationCode: ttl.AuthorizationCode ?? 60,
      IdToken: ttl.IdToken ?? 3600,
      RefreshToken: ttl.RefreshToken ?? 86_400,
      Session: ttl.Session ?? 3600,
      Interaction: ttl.Interaction ?? 600,
      Grant: ttl.Grant ?? 3600,
    },
  };

  const provider = new Provider(issuer, configuration);
  // Protocol errors (invalid_grant, invalid_request, ...) are expected in negative tests: only
  // server_error means the harness or the provider is broken.
  provider.on('server_error', (_ctx, error) => {
    errors.push(error);
    if (log) console.error('[oidc-provider] server_error:', error);
  });
  if (log) {
    provider.on('authorization.error', (_ctx, error) => console.error('[oidc-provider] authorization.error:', error));
    provider.on('grant.error', (_ctx, error) => console.error('[oidc-provider] grant.error:', error));
    provider.on('userinfo.error', (_ctx, error) => console.error('[oidc-provider] userinfo.error:', error));
    provider.on('end_session.error', (_ctx, error) => console.error('[oidc-provider] end_session.error:', error));
  }

  const setClient = async (client: OidcClientOptions): Promise<void> => {
    const metadata = clientMetadata(client);
    await provider.Client.validate(metadata);
    clients.set(client.clientId, metadata);
    if (client.requirePkce) pkceRequired.add(client.clientId);
    else pkceRequired.delete(client.clientId);
  };
  for (const client of options.clients ?? []) await setClient(client);

  const providerCallback = provider.callback();
  handler = (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const match = INTERACTION_PATH.exec(path);
    if (!match) {
      providerCallback(req, res);
      return;
    }
    handleInteraction(provider, users, req, res, match[1] ?? '', match[2]).catch((error: unknown) => {
      errors.push(error instanceof Error ? error : new Error(String(error)));
      if (log) console.error('[oidc-provider] interaction failed:', error);
      if (!res.headersSent) sendHtml(res, 500, errorPage('server_error', String(error)));
      else res.end();
    });
  };

  return {
    issuer,
    port,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    endpoints: {
      authorization: `${issuer}/authorize`,
      token: `${issuer}/api/oidc/token`,
      userinfo: `${issuer}/api/oidc/userinfo`,
      endSession: `${issuer}/api/oidc/end-session`,
      jwks: `${issuer}/.well-known/jwks.json`,
    },
    users,
    setClient,
    removeClient: (clientId) => {
      pkceRequired.delete(clientId);
      return clients.delete(clientId);
    },
    publicJwk,
    requests,
    errors,
    provider,
    async close() {
      handler = undefined;
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeAllConnections();
      await closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Interaction pages (login, consent) served by the harness itself

async function handleInteraction(
  provider: Provider,
  users: OidcUsers,
  req: IncomingMessage,
  res: ServerResponse,
  uid: string,
  action: string | undefined,
): Promise<void> {
  const method = req.method ?? 'GET';
  if ((action === undefined && method !== 'GET') || (action !== undefined && method !== 'POST')) {
    sendHtml(res, 405, errorPage('invalid_request', `${method} not allowed here`));
    return;
  }
  let details: Awaited<ReturnType<Provider['interactionDetails']>>;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (error) {
    // Missing or expired _interaction cookie, or an unknown interaction.
    sendHtml(res, 400, errorPage('invalid_request', `interaction not found: ${String(error)}`));
    return;
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage('invalid_request', 'interaction id does not match the interaction cookie'));
    return;
  }
  const { prompt, params } = details;
  const clientId = String(params.client_id ?? '');

  if (action === undefined) {
    if (prompt.name === 'login') {
      sendHtml(res, 200, loginPage(uid, clientId, typeof params.login_hint === 'string' ? params.login_hint : ''));
    } else if (prompt.name === 'consent') {
      sendHtml(res, 200, consentPage(uid, clientId, String(params.scope ?? '')));
    } else {
      sendHtml(res, 501, errorPage('server_error', `unsupported prompt ${prompt.name}`));
    }
    return;
  }

  const form = await readForm(req);
  if (action === 'abort') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  if (action === 'login') {
    if (prompt.name !== 'login') {
      sendHtml(res, 400, errorPage('invalid_request', `expected the ${prompt.name} step, not login`));
      return;
    }
    const username = form.get('username') ?? '';
    const user = users.get(username);
    if (!user || (user.password !== undefined && form.get('password') !== user.password)) {
      sendHtml(res, 401, loginPage(uid, clientId, username, 'Unknown user or wrong password'));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub, amr: ['pwd'] } },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  // action === 'confirm'
  if (prompt.name !== 'consent') {
    sendHtml(res, 400, errorPage('invalid_request', `expected the ${prompt.name} step, not consent`));
    return;
  }
  const accountId = details.session?.accountId;
  if (!accountId) {
    sendHtml(res, 400, errorPage('invalid_request', 'no logged-in account for this interaction'));
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId });
  if (!grant) {
    sendHtml(res, 400, errorPage('invalid_request', 'grant not found'));
    return;
  }
  const missing = prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { consent: details.grantId ? {} : { grantId } },
    { mergeWithLastSubmission: true },
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(kind: string, title: string, body: string, script = ''): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="harness-page" content="${kind}"><title>${escapeHtml(title)}</title>${script}</head>
<body>${body}</body></html>`;
}

function errorPage(error: string, description: string | undefined): string {
  return page(
    'error',
    'Error',
    `<h1>Error</h1><p data-error="${escapeHtml(error)}">${escapeHtml(error)}</p>` +
      `<p data-error-description="${escapeHtml(description ?? '')}">${escapeHtml(description ?? '')}</p>`,
  );
}

function loginPage(uid: string, clientId: string, username: string, error?: string): string {
  return page(
    'login',
    'Sign in',
    `<h1>Sign in to ${escapeHtml(clientId)}</h1>` +
      (error ? `<p role="alert" data-error="login_failed">${escapeHtml(error)}</p>` : '') +
      `<form method="post" action="/interaction/${uid}/login">` +
      `<label>Username <input type="text" name="username" value="${escapeHtml(username)}" autofocus></label>` +
      `<label>Password <input type="password" name="password" value=""></label>` +
      `<button type="submit">Sign in</button></form>` +
      `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`,
  );
}

function consentPage(uid: string, clientId: string, scope: string): string {
  return page(
    'consent',
    'Authorize',
    `<h1>Authorize ${escapeHtml(clientId)}</h1><p>Scopes: ${escapeHtml(scope)}</p>` +
      `<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Authorize</button></form>` +
      `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Deny</button></form>`,
  );
}

/**
 * oidc-provider always answers a logout request with a page whose form POSTs to the confirm
 * endpoint (with an xsrf token); it has no setting to redirect straight away. With a valid
 * id_token_hint the page submits itself with `logout=yes` (no user interaction, like Pocket ID);
 * otherwise it asks for confirmation.
 */
function logoutPage(ctx: KoaContextWithOIDC, form: string, withoutConfirmation: boolean): void {
  ctx.type = 'html';
  const hinted = ctx.oidc.entities.IdTokenHint !== undefined;
  if (hinted && withoutConfirmation) {
    const auto = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
    ctx.body = page(
      'logout-auto',
      'Signing out',
      `<p>Signing out…</p>${auto}`,
      `<script>document.addEventListener('DOMContentLoaded', function () { document.forms[0].submit() });</script>`,
    );
    return;
  }
  const confirm = form.replace(
    '</form>',
    '<button autofocus type="submit" name="logout" value="yes">Yes, sign me out</button>' +
      '<button type="submit">No, stay signed in</button></form>',
  );
  ctx.body = page('logout-confirm', 'Sign out?', `<h1>Do you want to sign out?</h1>${confirm}`);
}
