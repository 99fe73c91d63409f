/**
 * A workload token issuer on loopback that behaves like the real ones (a Kubernetes API server's
 * ServiceAccount issuer, GitHub's token.actions.githubusercontent.com): OIDC discovery, a JWKS,
 * key rotation, and ID tokens with their claims, signed with jose. Counts its JWKS fetches so tests
 * can see caching and the refetch on an unknown `kid`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

type Alg = 'RS256' | 'ES256' | 'EdDSA';
interface SigningKey {
  kid: string;
  alg: Alg;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

export interface WorkloadIssuer {
  /** `http://127.0.0.1:<port>` (the `iss` of its tokens). */
  issuer: string;
  /** Signs `claims` (iss, iat, exp filled in unless given) with the current key, or with `alg`'s key. */
  sign(claims: Record<string, unknown>, options?: { alg?: Alg; expiresIn?: number; kid?: string }): Promise<string>;
  /** A new current key under a new kid; `dropOld` removes the previous keys from the JWKS. */
  rotate(dropOld?: boolean): Promise<void>;
  /** The current RS256 key's public JWK (for the HS256-with-public-key attack). */
  publicJwk(): JWK;
  jwksFetches(): number;
  close(): Promise<void>;
}

let counter = 0;
async function makeKey(alg: Alg): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const kid = `key-${alg}-${++counter}`;
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export async function startWorkloadIssuer(): Promise<WorkloadIssuer> {
  let keys: SigningKey[] = [await makeKey('RS256'), await makeKey('ES256'), await makeKey('EdDSA')];
  let current = keys[0]!;
  let fetches = 0;
  let issuer = '';
  const server: Server = createServer((request, response) => {
    const send = (body: unknown) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.url === '/.well-known/openid-configuration') {
      send({
        issuer,
        jwks_uri: `${issuer}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
      });
    } else if (request.url === '/openid/v1/jwks') {
      fetches++;
      send({ keys: keys.map((key) => key.publicJwk) });
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    async sign(claims, options = {}) {
      const key = options.alg ? keys.find((candidate) => candidate.alg === options.alg)! : current;
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, iat: now, exp: now + (options.expiresIn ?? 600), ...claims })
        .setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid, typ: 'JWT' })
        .sign(key.privateKey);
    },
    async rotate(dropOld = false) {
      const next = await makeKey('RS256');
      keys = dropOld ? [next, ...keys.filter((key) => key.alg !== 'RS256')] : [next, ...keys];
      current = next;
    },
    publicJwk: () => current.publicJwk,
    jwksFetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A Kubernetes ServiceAccount token's claims (projected volume, `audience` as configured). */
export function serviceAccountClaims(namespace: string, serviceAccount: string, audience: string): Record<string, unknown> {
  return {
    sub: `system:serviceaccount:${namespace}:${serviceAccount}`,
    aud: [audience],
    nbf: Math.floor(Date.now() / 1000),
    'kubernetes.io': {
      namespace,
      serviceaccount: { name: serviceAccount, uid: '7c1d3f3e-0000-4000-8000-000000000001' },
      pod: { name: `${serviceAccount}-5d9c`, uid: '7c1d3f3e-0000-4000-8000-000000000002' },
    },
  };
}

/** A GitHub Actions job token's claims (`permissions: id-token: write`). */
export function githubActionsClaims(repository: string, audience: string, ref = 'refs/heads/main'): Record<string, unknown> {
  const owner = repository.split('/')[0]!;
  return {
    sub: `repo:${repository}:ref:${ref}`,
    aud: audience,
    repository,
    repository_owner: owner,
    ref,
    job_workflow_ref: `${repository}/.github/workflows/release.yml@${ref}`,
    event_name: 'push',
    actor: 'octocat',
  };
}
