import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url, SignJWT } from 'jose';
import { createHmac } from 'node:crypto';
import { WorkloadVerifier } from '../../../src/workload/verifier.js';
import { githubActionsClaims, serviceAccountClaims, startWorkloadIssuer, type WorkloadIssuer } from '../../helpers/workload-issuer.js';

let issuer: WorkloadIssuer;
let verifier: WorkloadVerifier;
beforeAll(async () => {
  issuer = await startWorkloadIssuer();
  verifier = new WorkloadVerifier([
    {
      issuer: issuer.issuer,
      audiences: ['berth'],
      skipIssuerVerification: false,
      claimMapping: {
        variables: [],
        validations: [{ expression: "!has(claims.repository_owner) || claims.repository_owner == 'acme'", message: 'only acme' }],
        username: "claims.iss + '/' + claims.sub",
        groups: 'has(claims.repository_owner) ? [claims.repository_owner] : []',
      },
    },
  ]);
});
afterAll(async () => issuer.close());

describe('workload ID tokens', () => {
  it('accepts a ServiceAccount token signed with RS256, ES256 and EdDSA', async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      const result = await verifier.verify(await issuer.sign(serviceAccountClaims('flux-system', 'source-controller', 'berth'), { alg }));
      expect(result).toMatchObject({ ok: true, username: `${issuer.issuer}/system:serviceaccount:flux-system:source-controller`, groups: [] });
    }
  });

  it('maps GitHub Actions claims to groups and refuses a failing validation', async () => {
    expect(await verifier.verify(await issuer.sign(githubActionsClaims('acme/app', 'berth')))).toMatchObject({ ok: true, groups: ['acme'] });
    expect(await verifier.verify(await issuer.sign(githubActionsClaims('evil/app', 'berth')))).toEqual({ ok: false, reason: 'workload token: claim validation failed: only acme' });
  });

  it('refuses another audience, an expired token, alg none, HS256 with the public key, an unknown issuer', async () => {
    const claims = serviceAccountClaims('ns', 'sa', 'berth');
    expect(await verifier.verify(await issuer.sign({ ...claims, aud: 'other' }))).toEqual({ ok: false, reason: 'workload token: the audience is not accepted (aud)' });
    expect(await verifier.verify(await issuer.sign(claims, { expiresIn: -600 }))).toEqual({ ok: false, reason: 'workload token: expired (exp)' });
    const now = Math.floor(Date.now() / 1000);
    const body = base64url.encode(JSON.stringify({ ...claims, iss: issuer.issuer, iat: now, exp: now + 600 }));
    expect(await verifier.verify(`${base64url.encode('{"alg":"none"}')}.${body}.`)).toEqual({ ok: false, reason: 'workload token: unsigned (alg none)' });
    const header = base64url.encode(JSON.stringify({ alg: 'HS256', kid: issuer.publicJwk().kid }));
    const mac = createHmac('sha256', JSON.stringify(issuer.publicJwk())).update(`${header}.${body}`).digest('base64url');
    expect(await verifier.verify(`${header}.${body}.${mac}`)).toEqual({ ok: false, reason: 'workload token: algorithm HS256 is not accepted' });
    const stranger = await new SignJWT({ ...claims, iss: 'https://elsewhere.example' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new Uint8Array(32));
    expect((await verifier.verify(stranger)).ok).toBe(false);
  });

  it('picks up a rotated key (unknown kid refetches the JWKS, rate-limited)', { timeout: 15_000 }, async () => {
    await verifier.verify(await issuer.sign(serviceAccountClaims('ns', 'sa', 'berth')));
    const before = issuer.jwksFetches();
    await issuer.rotate(true);
    // Unknown kids refetch at most once per cooldown (5 s): a forged kid cannot make Berth hammer the issuer.
    expect((await verifier.verify(await issuer.sign(serviceAccountClaims('ns', 'sa', 'berth')))).ok).toBe(false);
    expect(issuer.jwksFetches()).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 5_100));
    expect(await verifier.verify(await issuer.sign(serviceAccountClaims('ns', 'sa', 'berth')))).toMatchObject({ ok: true });
    expect(issuer.jwksFetches()).toBe(before + 1);
  });
});

describe('verified tokens are remembered, within bounds', () => {
  const config = (validations: { expression: string; message: string }[]) => ({
    issuer: issuer.issuer,
    audiences: ['berth'],
    skipIssuerVerification: false,
    claimMapping: { variables: [], validations, username: "claims.iss + '/' + claims.sub" },
  });

  it('a token verified once is not checked again, but never past its exp nor across a reload', async () => {
    const first = new WorkloadVerifier([config([])]);
    const token = await issuer.sign(githubActionsClaims('evil/app', 'berth'));
    const verdict = await first.verify(token);
    expect(verdict).toMatchObject({ ok: true });
    expect(verdict.ok && verdict.expiresAt).toBeLessThanOrEqual((Math.floor(Date.now() / 1000) + 600) * 1000);
    expect(await first.verify(token)).toBe(verdict);
    // A reload that adds a validation applies to that same token at once.
    const reloaded = new WorkloadVerifier([config([{ expression: "claims.repository_owner == 'acme'", message: 'only acme' }])], first);
    expect(await reloaded.verify(token)).toEqual({ ok: false, reason: 'workload token: claim validation failed: only acme' });
  });
});

describe('claimMapping variables', () => {
  it('binds each variable as vars.<name> for validations, username and groups (config/zot-workload.json)', async () => {
    const verifier = new WorkloadVerifier([
      {
        issuer: issuer.issuer,
        audiences: ['berth'],
        skipIssuerVerification: false,
        claimMapping: {
          variables: [{ name: 'owner', expression: 'claims.repository_owner' }],
          validations: [{ expression: "vars.owner == 'acme'", message: "only acme's workflows" }],
          username: "vars.owner + '/' + claims.sub",
          groups: "['gh:' + vars.owner]",
        },
      },
    ]);
    expect(await verifier.verify(await issuer.sign(githubActionsClaims('acme/app', 'berth')))).toMatchObject({ ok: true, username: 'acme/repo:acme/app:ref:refs/heads/main', groups: ['gh:acme'] });
    expect(await verifier.verify(await issuer.sign(githubActionsClaims('evil/app', 'berth')))).toEqual({ ok: false, reason: "workload token: claim validation failed: only acme's workflows" });
  });
});
