/**
 * How a refused code exchange is described for the log (src/auth/oidc-failures.ts), with real
 * openid-client errors: a token answer whose ID token is signed with an algorithm discovery did
 * not name, a provider error answer, a wrong nonce. The description names the cause and the JWT
 * header's alg and kid, and never a token, a nonce or a claim value.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import * as client from 'openid-client';
import { describe, expect, it } from 'vitest';
import { describeFailure, keysMayHaveChanged } from '../../../src/auth/oidc-failures.js';

const ISSUER = 'https://id.example.org';
const NONCE = 'nonce-value-that-must-not-be-logged';
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

function es256IdToken(nonce: string): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', kid: 'new-key', typ: 'JWT' })}.${b64({ iss: ISSUER, aud: 'berth', sub: 'a-user', nonce, iat: now, exp: now + 60, email: 'alice@example.org' })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** Runs a code exchange whose token endpoint answers `status` with `body`; returns the error. */
async function exchangeFailure(status: number, body: object, discoveredAlgs = ['RS256']): Promise<unknown> {
  const configuration = new client.Configuration(
    { issuer: ISSUER, token_endpoint: `${ISSUER}/api/oidc/token`, jwks_uri: `${ISSUER}/.well-known/jwks.json`, id_token_signing_alg_values_supported: discoveredAlgs },
    'berth',
    'secret',
  );
  configuration[client.customFetch] = async () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const callback = new URL(`https://berth.example.org/zot/auth/callback/oidc?code=the-code&state=the-state&iss=${encodeURIComponent(ISSUER)}`);
  return client.authorizationCodeGrant(configuration, callback, { expectedState: 'the-state', expectedNonce: NONCE, idTokenExpected: true }).then(
    () => {
      throw new Error('the exchange succeeded');
    },
    (error: unknown) => error,
  );
}

describe('describeFailure and keysMayHaveChanged', () => {
  it('name the unexpected alg with what discovery listed, and never the tokens', async () => {
    const idToken = es256IdToken(NONCE);
    const error = await exchangeFailure(200, { access_token: 'access-token-secret', token_type: 'Bearer', id_token: idToken });
    expect((error as Error).message).toBe('invalid response encountered');
    const text = describeFailure(error);
    expect(text).toBe('invalid response encountered [OAUTH_INVALID_RESPONSE]: unexpected JWT "alg" header parameter (alg ES256, kid new-key, expected RS256 from the authorization server metadata)');
    expect(keysMayHaveChanged(error)).toBe(true);
    for (const secret of ['access-token-secret', idToken, NONCE]) expect(text).not.toContain(secret);
  });

  it('name a provider error answer, which a new discovery cannot fix', async () => {
    const error = await exchangeFailure(400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
    expect(describeFailure(error)).toMatch(/^server responded with an error in the response body \(invalid_grant: grant request is invalid\)/);
    expect(keysMayHaveChanged(error)).toBe(false);
  });

  it('name a wrong nonce without printing either nonce or any claim', async () => {
    const idToken = es256IdToken('another-nonce-entirely');
    const error = await exchangeFailure(200, { access_token: 'access-token-secret', token_type: 'Bearer', id_token: idToken }, ['ES256']);
    const text = describeFailure(error);
    expect(text).toBe('unexpected JWT claim value encountered [OAUTH_JWT_CLAIM_COMPARISON_FAILED]: unexpected ID Token "nonce" claim value');
    expect(keysMayHaveChanged(error)).toBe(false);
    for (const secret of [NONCE, 'another-nonce-entirely', 'alice@example.org', 'access-token-secret', idToken]) expect(text).not.toContain(secret);
  });
});
