/**
 * A real OpenID Provider for tests, standing in for Pocket ID (v2.14): panva's `oidc-provider` on
 * 127.0.0.1 at an ephemeral port, with an http issuer (`http://127.0.0.1:<port>`; fine on loopback)
 * or, with `tls`, an https one.
 *
 * What it does, mirroring Pocket ID (docs: /work/shared/reference/zot.md section 7; Pocket ID's
 * own source was read for the details):
 * - authorization code flow only (`response_type=code`), PKCE with S256 (`plain` is not offered:
 *   oidc-provider 9 dropped it). PKCE is always required for public clients (no secret,
 *   `token_endpoint_auth_method: none`) and, per client, for confidential clients too
 *   (`requirePkce: true`, Pocket ID's per-client "PKCE" switch).
 * - client auth: a client with a secret may send it with `client_secret_basic` or
 *   `client_secret_post` (oidc-provider 9 accepts both for either registered method), a public
 *   client uses `none`; a refresh token comes with every code exchange, like Pocket ID.
 * - one signing key at a time (oidc-signing-key.ts), RS256 (RSA-2048) unless `signingAlg` says
 *   otherwise; discovery's `id_token_signing_alg_values_supported` names only its algorithm.
 *   `op.rotateKey({ alg: 'ES256' })` is `pocket-id key-rotate --alg ES256` plus the restart it asks
 *   for: the JWKS and discovery then name only the new key.
 * - scopes `openid profile email groups` (+ `offline_access`) with Pocket ID's claims per scope:
 *   `sub` (a stable UUID per username) always; profile: `name`, `given_name`, `family_name`,
 *   `display_name`, `preferred_username`; email: `email` and `email_verified` (false unless set,
 *   Pocket ID's default; both omitted when the user has no email); groups: `groups` (array of group
 *   names, `[]` for a user in no group). Every scope's claims go in the ID token AND in UserInfo
 *   (`conformIdTokenClaims: false`), as Pocket ID does.
 * - endpoints at Pocket ID's paths: `/authorize`, `/api/oidc/token`, `/api/oidc/userinfo`,
 *   `/api/oidc/end-session` (GET), `/.well-known/jwks.json`; discovery at
 *   `/.well-known/openid-configuration`. With `internalHost` (Pocket ID's INTERNAL_APP_URL), the
 *   token, UserInfo and JWKS endpoints are named under `http://<internalHost>:<port>` instead,
 *   served by a second plain-http listener.
 * - RP-initiated logout: with a valid `id_token_hint` the logout needs no confirmation (the page
 *   the provider returns auto-submits its form: no user interaction, one extra POST; see
 *   logoutThroughProvider in oidc-login.ts). Without it (what zot sends: `client_id` +
 *   `post_logout_redirect_uri`) a confirmation page is shown, as Pocket ID does.
 * - its own minimal login / consent pages (oidc-provider-pages.ts; no devInteractions, no
 *   network): a login form with `username` and `password` (any password unless the user has one
 *   set), then a consent form, shown the first time a user authorizes a client in a provider
 *   session.
 * - fixed users `alice` (groups admins, users), `bob` (users), `carol` (no group: `groups: []`);
 *   `op.users` adds, renames (same `sub`) or removes users and changes groups at runtime: claims are
 *   read at each token / UserInfo request, so a change shows at the next login.
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
 *   op.rotateKey({ alg: 'ES256' });                            // the next ID token is ES256, under a new kid
 *   await op.close();
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import type { ClientMetadata, Configuration, FindAccount, JWK } from 'oidc-provider';
import { HarnessAdapter, MemoryStore } from './oidc-provider-store.js';
import { errorPage, handleInteraction, logoutPage, page, sendHtml } from './oidc-provider-pages.js';
import { generateSigningKey, type SigningAlg, type SigningKey } from './oidc-signing-key.js';

export { SIGNING_ALGS, type SigningAlg } from './oidc-signing-key.js';

// ---------------------------------------------------------------------------------------------
// Users

export interface OidcUser {
  /** Login name and `preferred_username` (Pocket ID's username; it can be renamed, the `sub` stays). */
  username: string;
  /** `sub`: a UUID, stable per username across provider restarts unless given. */
  sub: string;
  /** `name` (scope profile; also split into `given_name` / `family_name`, and `display_name`); omitted when undefined. */
  name?: string | undefined;
  /** `email` (scope email); omitted, with `email_verified`, when undefined (passkey-only users). */
  email?: string | undefined;
  /**
   * `email_verified`; defaults to false, as in Pocket ID (a user created by an admin or by sign-up
   * is unverified unless the instance sets EMAILS_VERIFIED or the user confirms the address).
   */
  emailVerified?: boolean | undefined;
  /**
   * `groups` (scope groups): group names (Pocket ID's group *Name*, not its friendly name).
   * []: an empty array, what Pocket ID sends for a user in no group; undefined: no `groups` claim at
   * all (other providers omit it).
   */
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
  // In no group: Pocket ID still sends `groups: []` (set `groups: undefined` for a provider that
  // omits the claim).
  { username: 'carol', name: 'Carol Example', email: 'carol@example.org', groups: [] },
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

/**
 * The claims a user has, as Pocket ID's claims service (backend/internal/oidc/claims_service.go)
 * builds them; oidc-provider keeps those of the granted scopes (see `CLAIMS_BY_SCOPE`).
 */
function claimsOf(user: OidcUser): { sub: string; [claim: string]: unknown } {
  const claims: { sub: string; [claim: string]: unknown } = {
    sub: user.sub,
    preferred_username: user.username,
  };
  if (user.name !== undefined) {
    const [given = '', ...family] = user.name.split(' ');
    Object.assign(claims, { name: user.name, given_name: given, family_name: family.join(' '), display_name: user.name });
  }
  // Only with an address: email_verified next to no email would mislead (Pocket ID does the same).
  if (user.email !== undefined && user.email !== '') {
    claims.email = user.email;
    claims.email_verified = user.emailVerified ?? false;
  }
  if (user.groups !== undefined) claims.groups = [...user.groups];
  return claims;
}

/** Pocket ID's claims per scope; `sub` always. */
const CLAIMS_BY_SCOPE = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'display_name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

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
  /** The first signing key's algorithm (default RS256, Pocket ID's default key). */
  signingAlg?: SigningAlg;
  /**
   * Serve the issuer over https with this certificate and key (PEM): the issuer becomes
   * `https://127.0.0.1:<port>`. The certificate must name IP 127.0.0.1.
   */
  tls?: { cert: string; key: string };
  /**
   * Pocket ID's INTERNAL_APP_URL: discovery names the token, UserInfo and JWKS endpoints under
   * `http://<internalHost>:<internalPort>`, a second, plain-http listener on 127.0.0.1 (so the host
   * must resolve to 127.0.0.1 to be reachable, like `localhost`; another name tests a refusal).
   */
  internalHost?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/authorize?client_id=...`. */
  url: string;
  /** Received on the internal plain-http listener (`internalHost`). */
  internal?: boolean;
}

export interface RotateKeyOptions {
  /** The new key's algorithm (default RS256), as `pocket-id key-rotate --alg`. */
  alg?: SigningAlg;
  /** Default: a new random kid. Pass the current one to replace the key under the same id. */
  kid?: string;
  /**
   * false: sign with the new key but keep publishing the previous JWKS, as a forger holding a key
   * the provider never published would (default true).
   */
  publish?: boolean;
}

export interface OidcTestProvider {
  /** `http://127.0.0.1:<port>` (`https://` with `tls`), no trailing slash: the `iss` of every token. */
  issuer: string;
  port: number;
  /** `http://<internalHost>:<port>` when started with `internalHost`. */
  internalUrl: string | undefined;
  /** `<issuer>/.well-known/openid-configuration` */
  discoveryUrl: string;
  /** As discovery names them (token, UserInfo and JWKS under `internalUrl` when set). */
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
  /** The public half of the current signing key (as in the JWKS). */
  readonly publicJwk: JWK;
  /** The current signing key's algorithm, the only one discovery names. */
  readonly signingAlg: SigningAlg;
  /**
   * `pocket-id key-rotate --alg <alg>` followed by the restart it asks for: a new key replaces the
   * old one, the JWKS and discovery's `id_token_signing_alg_values_supported` name only the new
   * one, ID tokens are signed with it from now on. Sessions, grants and clients survive (Pocket ID
   * keeps them in its database). Returns the new public key.
   */
  rotateKey(options?: RotateKeyOptions): JWK;
  /** Every request the provider received, in order (login driver steps included). */
  requests: RecordedRequest[];
  /** Errors oidc-provider reported (`server_error` and friends): expect it to stay empty. */
  errors: Error[];
  /** The current oidc-provider instance (a new one after `rotateKey`), for anything the harness does not wrap. */
  readonly provider: Provider;
  close(): Promise<void>;
}

export const OIDC_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;
const JWKS_PATH = '/.well-known/jwks.json';
/** The endpoints Pocket ID names under INTERNAL_APP_URL (well_known_controller.go). */
const INTERNAL_ENDPOINTS = ['token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'pushed_authorization_request_endpoint'];

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

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
  let signing = generateSigningKey(options.signingAlg ?? 'RS256');
  let published = signing;

  // The issuer embeds the port, so listen first and build the provider once the port is known.
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const listener = (internal: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', ...(internal ? { internal } : {}) });
    if (log) console.error(`[oidc-provider]${internal ? ' (internal)' : ''} ${req.method} ${req.url}`);
    if (handler) handler(req, res);
    else res.writeHead(503).end();
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener(false)) : createServer(listener(false));
  server.keepAliveTimeout = 1000;
  const port = await listen(server, options.port ?? 0);
  const issuer = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const internalServer = options.internalHost === undefined ? undefined : createServer(listener(true));
  const internalUrl = internalServer && `http://${options.internalHost}:${await listen(internalServer, 0)}`;

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
  const cookieKeys = [randomBytes(32).toString('base64url')];
  const configuration = (key: SigningKey): Configuration => ({
    adapter: (model: string) => new HarnessAdapter(model, store, findClient),
    findAccount,
    claims: CLAIMS_BY_SCOPE,
    scopes: [...OIDC_SCOPES],
    // Claims of every granted scope in the ID token too, not only in UserInfo (Pocket ID does this).
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    // One key, one algorithm, as Pocket ID: discovery names only this one.
    enabledJWA: { idTokenSigningAlgValues: [key.alg] },
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: key.alg,
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    jwks: { keys: [key.privateJwk] },
    cookies: { keys: cookieKeys },
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
      jwks: JWKS_PATH,
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
  });

  /** A provider instance signing with `key`; rotateKey builds a new one, as Pocket ID restarts. */
  const build = (key: SigningKey): Provider => {
    const built = new Provider(issuer, configuration(key));
    // Protocol errors (invalid_grant, invalid_request, ...) are expected in negative tests: only
    // server_error means the harness or the provider is broken.
    built.on('server_error', (_ctx, error) => {
      errors.push(error);
      if (log) console.error('[oidc-provider] server_error:', error);
    });
    if (log) {
      built.on('authorization.error', (_ctx, error) => console.error('[oidc-provider] authorization.error:', error));
      built.on('grant.error', (_ctx, error) => console.error('[oidc-provider] grant.error:', error));
      built.on('userinfo.error', (_ctx, error) => console.error('[oidc-provider] userinfo.error:', error));
      built.on('end_session.error', (_ctx, error) => console.error('[oidc-provider] end_session.error:', error));
    }
    if (internalUrl !== undefined) {
      built.use(async (ctx, next) => {
        await next();
        if (ctx.path !== '/.well-known/openid-configuration' || typeof ctx.body !== 'object' || ctx.body === null) return;
        const metadata = ctx.body as Record<string, unknown>;
        for (const field of INTERNAL_ENDPOINTS) {
          const value = metadata[field];
          if (typeof value === 'string' && value.startsWith(issuer)) metadata[field] = internalUrl + value.slice(issuer.length);
        }
      });
    }
    return built;
  };
  let provider = build(signing);
  let providerCallback = provider.callback();

  const setClient = async (client: OidcClientOptions): Promise<void> => {
    const metadata = clientMetadata(client);
    await provider.Client.validate(metadata);
    clients.set(client.clientId, metadata);
    if (client.requirePkce) pkceRequired.add(client.clientId);
    else pkceRequired.delete(client.clientId);
  };
  for (const client of options.clients ?? []) await setClient(client);

  handler = (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === JWKS_PATH && published !== signing) {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json; charset=utf-8' }).end(JSON.stringify({ keys: [published.publicJwk] }));
      return;
    }
    const match = INTERACTION_PATH.exec(path);
    if (!match) {
      void providerCallback(req, res);
      return;
    }
    handleInteraction(provider, users, req, res, match[1] ?? '', match[2]).catch((error: unknown) => {
      errors.push(error instanceof Error ? error : new Error(String(error)));
      if (log) console.error('[oidc-provider] interaction failed:', error);
      if (!res.headersSent) sendHtml(res, 500, errorPage('server_error', String(error)));
      else res.end();
    });
  };

  const endpointBase = internalUrl ?? issuer;
  return {
    issuer,
    port,
    internalUrl,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    endpoints: {
      authorization: `${issuer}/authorize`,
      token: `${endpointBase}/api/oidc/token`,
      userinfo: `${endpointBase}/api/oidc/userinfo`,
      endSession: `${issuer}/api/oidc/end-session`,
      jwks: `${endpointBase}${JWKS_PATH}`,
    },
    users,
    setClient,
    removeClient: (clientId) => {
      pkceRequired.delete(clientId);
      return clients.delete(clientId);
    },
    get publicJwk() {
      return signing.publicJwk;
    },
    get signingAlg() {
      return signing.alg;
    },
    rotateKey(rotation = {}) {
      signing = generateSigningKey(rotation.alg ?? 'RS256', rotation.kid);
      if (rotation.publish ?? true) published = signing;
      provider = build(signing);
      providerCallback = provider.callback();
      return signing.publicJwk;
    },
    requests,
    errors,
    get provider() {
      return provider;
    },
    async close() {
      handler = undefined;
      await Promise.all(
        [server, internalServer].map(async (listening) => {
          if (!listening) return;
          const closed = new Promise<void>((resolve, reject) => listening.close((error) => (error ? reject(error) : resolve())));
          listening.closeAllConnections();
          await closed;
        }),
      );
    },
  };
}
