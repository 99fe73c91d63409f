/**
 * `http.auth.openid`: providers with their client credentials. A `credentialsFile` (the Kubernetes
 * Secret pattern) wins, then `BERTH_OIDC_<KEY>_CLIENT_ID` / `_CLIENT_SECRET` from the environment,
 * then inline values; an inline secret still works but is warned about. `allowHttpEndpoints` is
 * Berth's own key (src/auth/oidc-endpoints.ts says what it allows).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { OidcProviderConfig } from './config.js';
import type { ZotOpenid } from './zot-config.js';

const LOOPBACK_HOSTS = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;
/** zot's OAuth2-only providers: no discovery, no ID token. */
const OAUTH2_ONLY = new Set(['github']);

function readCredentials(file: string, where: string, problems: string[]): { clientid: string; clientsecret: string } | undefined {
  const absolute = path.resolve(file);
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(absolute, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    problems.push(`${where}/credentialsFile: cannot read ${absolute}: ${reason}`);
    return undefined;
  }
  const entries = typeof document === 'object' && document !== null ? Object.entries(document) : [];
  const values = Object.fromEntries(entries.map(([key, value]) => [key.toLowerCase(), value]));
  const unknown = Object.keys(values).filter((key) => key !== 'clientid' && key !== 'clientsecret');
  if (unknown.length > 0 || typeof values.clientid !== 'string' || typeof values.clientsecret !== 'string') {
    problems.push(`${where}/credentialsFile: ${absolute} must hold exactly {"clientid": "...", "clientsecret": "..."}`);
    return undefined;
  }
  return { clientid: values.clientid, clientsecret: values.clientsecret };
}

export function readOpenid(
  openid: ZotOpenid,
  file: string,
  problems: string[],
  warnings: string[],
): { providers: OidcProviderConfig[]; callbackAllowOrigins: string[] } {
  const providers: OidcProviderConfig[] = [];
  for (const [key, raw] of Object.entries(openid.providers)) {
    const pointer = `/http/auth/openid/providers/${key}`;
    const where = `${file}: ${pointer}`;
    if (OAUTH2_ONLY.has(key)) {
      problems.push(`${file}: ${pointer}: not supported by Berth (GitHub's OAuth2 login has no OpenID Connect discovery)`);
      continue;
    }
    if (!/^[a-z0-9][a-z0-9_-]{0,31}$/.test(key)) problems.push(`${where}: a provider key must be lower-case letters, digits, "-" or "_" (it is part of the callback path)`);
    for (const unsupported of ['keypath', 'authurl', 'tokenurl'] as const) {
      // zot's own examples carry `"keypath": ""`: an empty value asks for nothing.
      if (raw[unsupported] !== undefined && raw[unsupported] !== '') problems.push(`${file}: ${pointer}/${unsupported}: not supported by Berth`);
    }
    if (!raw.issuer) {
      problems.push(`${where}/issuer: is required`);
      continue;
    }
    const issuer = new URL(raw.issuer);
    if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && LOOPBACK_HOSTS.test(issuer.hostname))) {
      problems.push(`${where}/issuer: must be https (http is accepted only on a loopback host); found "${raw.issuer}"`);
    }
    // Secrets never need to sit in zot.json: a credentialsFile wins, then the environment.
    const environment = `BERTH_OIDC_${key.toUpperCase().replaceAll('-', '_')}`;
    let clientId = process.env[`${environment}_CLIENT_ID`] || raw.clientid;
    let clientSecret = process.env[`${environment}_CLIENT_SECRET`] || raw.clientsecret;
    if (raw.credentialsFile) {
      const credentials = readCredentials(raw.credentialsFile, where, problems);
      if (credentials) {
        clientId = credentials.clientid;
        clientSecret = credentials.clientsecret;
      }
    } else if (raw.clientsecret && !process.env[`${environment}_CLIENT_SECRET`]) {
      warnings.push(`${where}/clientsecret: an inline client secret is deprecated; put it in a credentialsFile`);
    }
    if (!clientId) problems.push(`${where}/clientid: is required (inline or in credentialsFile)`);
    if (!raw.scopes || raw.scopes.length === 0) problems.push(`${where}/scopes: is required, for example ["openid", "profile", "email", "groups"]`);
    const scopes = raw.scopes ?? [];
    // Pocket ID (and most providers) release the groups claim only for the groups scope: without
    // it every user signs in with no groups and group policies silently match nobody.
    if (raw.claimMapping?.groups !== undefined && scopes.length > 0 && !scopes.includes('groups')) {
      warnings.push(`${where}/scopes: claimMapping.groups names the "${raw.claimMapping.groups}" claim but the "groups" scope is not requested; with Pocket ID users then sign in with no groups`);
    }
    providers.push({
      key,
      name: raw.name ?? key,
      issuer: raw.issuer,
      clientId: clientId ?? '',
      ...(clientSecret ? { clientSecret } : {}),
      scopes: scopes.includes('openid') ? scopes : ['openid', ...scopes],
      claimMapping: { username: raw.claimMapping?.username ?? 'email', groups: raw.claimMapping?.groups ?? 'groups' },
      allowHttpEndpoints: raw.allowHttpEndpoints === true,
    });
  }
  return { providers, callbackAllowOrigins: openid.callbackAllowOrigins ?? [] };
}
