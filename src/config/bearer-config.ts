/**
 * `http.auth.bearer` (zot's keys): the registry's token realm and the OIDC issuers whose workload ID
 * tokens (Kubernetes ServiceAccounts, GitHub/Forgejo Actions jobs) are accepted as credentials.
 * Every `claimMapping` expression is parsed here with @bufbuild/cel, so one that does not compile
 * fails config load and `berth verify` with its JSON path, not the first request that uses it.
 * `cert`, `upstreamTokenEndpoint` and `awsSecretsManager` (external token issuers) are refused by name.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from '@bufbuild/cel';
import type { BearerConfig, WorkloadIssuerConfig } from './config.js';
import type { ZotBearer } from './zot-config.js';

/** zot's default: the issuer and subject, unique across issuers. */
export const DEFAULT_WORKLOAD_USERNAME = "claims.iss + '/' + claims.sub";

const EXTERNAL_ISSUERS: Record<'cert' | 'upstreamTokenEndpoint' | 'awsSecretsManager', string> = {
  cert: 'tokens from an external token issuer',
  upstreamTokenEndpoint: 'forwarding token requests to another token service',
  awsSecretsManager: 'verification keys from AWS Secrets Manager',
};

/** Pushes a problem when `expression` is not CEL. */
function checkCel(expression: string, where: string, problems: string[]): void {
  try {
    parse(expression);
  } catch (error) {
    problems.push(`${where}: the CEL expression does not compile: ${(error as Error).message.replace(/\s+/g, ' ')}`);
  }
}

/** Reads a validated `http.auth.bearer`; problems and warnings name the file and JSON path. */
export function readBearer(raw: ZotBearer, file: string, problems: string[], warnings: string[]): BearerConfig {
  for (const [key, what] of Object.entries(EXTERNAL_ISSUERS) as [keyof typeof EXTERNAL_ISSUERS, string][]) {
    if (raw[key] !== undefined) problems.push(`${file}: /http/auth/bearer/${key}: not supported by Berth (${what}); Berth issues its own registry tokens`);
  }
  const issuers: WorkloadIssuerConfig[] = [];
  const seen = new Set<string>();
  (raw.oidc ?? []).forEach((entry, i) => {
    const where = `${file}: /http/auth/bearer/oidc/${i}`;
    const issuer = entry.issuer.replace(/\/+$/, '');
    if (seen.has(issuer)) problems.push(`${where}/issuer: "${issuer}" is listed twice`);
    seen.add(issuer);
    if (!/^https:\/\//.test(issuer) && !/^http:\/\/(localhost|127(?:\.\d{1,3}){3}|\[::1\])(:\d+)?(\/|$)/.test(issuer)) {
      problems.push(`${where}/issuer: must be https (plain http only on loopback, for tests); found "${entry.issuer}"`);
    }
    if (entry.certificateAuthority !== undefined && entry.certificateAuthorityFile !== undefined) {
      problems.push(`${where}: certificateAuthority and certificateAuthorityFile are mutually exclusive`);
    }
    let ca = entry.certificateAuthority;
    if (entry.certificateAuthorityFile !== undefined) {
      const absolute = path.resolve(entry.certificateAuthorityFile);
      try {
        // Config load is not a hot path; reload reads it again.
        ca = readFileSync(absolute, 'utf8');
      } catch (error) {
        problems.push(`${where}/certificateAuthorityFile: cannot read ${absolute}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----')) problems.push(`${where}/certificateAuthority: not a PEM certificate`);
    const mapping = entry.claimMapping ?? {};
    const variables = (mapping.variables ?? []).map((variable, j) => {
      checkCel(variable.expression, `${where}/claimMapping/variables/${j}/expression`, problems);
      return { name: variable.name, expression: variable.expression };
    });
    const validations = (mapping.validations ?? []).map((validation, j) => {
      checkCel(validation.expression, `${where}/claimMapping/validations/${j}/expression`, problems);
      return { expression: validation.expression, message: validation.message || `validation ${j} failed` };
    });
    const username = mapping.username ?? DEFAULT_WORKLOAD_USERNAME;
    checkCel(username, `${where}/claimMapping/username`, problems);
    if (mapping.groups !== undefined) checkCel(mapping.groups, `${where}/claimMapping/groups`, problems);
    if (entry.skipIssuerVerification === true) warnings.push(`${where}/skipIssuerVerification: the discovery document's issuer is not compared with the configured one (testing only)`);
    issuers.push({
      issuer,
      audiences: [...entry.audiences],
      claimMapping: { variables, validations, username, ...(mapping.groups !== undefined ? { groups: mapping.groups } : {}) },
      ...(ca !== undefined ? { certificateAuthority: ca } : {}),
      skipIssuerVerification: entry.skipIssuerVerification === true,
    });
  });
  return { ...(raw.realm !== undefined ? { realm: raw.realm } : {}), ...(raw.service !== undefined ? { service: raw.service } : {}), oidc: issuers };
}
