import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load-config.js';
import { configProblems } from '../../helpers/config-problems.js';

const problemsOf = (bearer: Record<string, unknown>) => configProblems({ storage: { rootDirectory: '/tmp/berth-bearer' }, http: { auth: { bearer } } }, 'zot.json');

describe('http.auth.bearer', () => {
  it('loads issuers with zot defaults (username iss/sub), and one object as a list of one', () => {
    const config = buildConfig({ storage: { rootDirectory: '/tmp/b' }, http: { auth: { bearer: { realm: 'https://r/zot/auth/token', service: 'r', oidc: { issuer: 'https://k8s.example/', audiences: ['berth'] } } } } }, 'zot.json');
    expect(config.http.auth.bearer).toEqual({ realm: 'https://r/zot/auth/token', service: 'r', oidc: [{ issuer: 'https://k8s.example', audiences: ['berth'], claimMapping: { variables: [], validations: [], username: "claims.iss + '/' + claims.sub" }, skipIssuerVerification: false }] });
  });

  it('refuses a CEL expression that does not compile, naming its path', () => {
    const problems = problemsOf({ oidc: [{ issuer: 'https://a.example', audiences: ['x'], claimMapping: { username: 'claims.(', validations: [{ expression: 'claims.sub ==', message: 'm' }] } }] });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^zot\.json: \/http\/auth\/bearer\/oidc\/0\/claimMapping\/validations\/0\/expression: the CEL expression does not compile/);
    expect(problems[1]).toMatch(/^zot\.json: \/http\/auth\/bearer\/oidc\/0\/claimMapping\/username: the CEL expression does not compile/);
  });

  it('requires audiences, refuses external token issuers by name, plain http off loopback and two CAs', () => {
    expect(problemsOf({ oidc: [{ issuer: 'https://a.example' }] })).toEqual(['zot.json: /http/auth/bearer/oidc/0/audiences: is required; found nothing']);
    expect(problemsOf({ cert: '/x.pem', upstreamTokenEndpoint: {}, awsSecretsManager: {} }).map((line) => line.split(':')[1])).toEqual([' /http/auth/bearer/cert', ' /http/auth/bearer/upstreamTokenEndpoint', ' /http/auth/bearer/awsSecretsManager']);
    expect(problemsOf({ oidc: [{ issuer: 'http://k8s.example', audiences: ['x'] }] })[0]).toMatch(/must be https/);
    expect(problemsOf({ oidc: [{ issuer: 'https://a.example', audiences: ['x'], certificateAuthority: 'a', certificateAuthorityFile: '/b' }] })[0]).toMatch(/mutually exclusive/);
  });
});

describe('config/zot-workload.json (the example of docs/workload-identity.md)', () => {
  it('loads: two issuers, CEL variables, validations and groups kept as written', async () => {
    const config = buildConfig(JSON.parse(await readFile('config/zot-workload.json', 'utf8')), 'config/zot-workload.json');
    const bearer = config.http.auth.bearer!;
    expect(bearer.service).toBe('registry.example.com');
    expect(bearer.oidc.map((issuer) => issuer.issuer)).toEqual(['https://kubernetes.default.svc', 'https://token.actions.githubusercontent.com']);
    expect(bearer.oidc[1]!.claimMapping).toEqual({
      variables: [{ name: 'owner', expression: 'claims.repository_owner' }],
      validations: [{ expression: "vars.owner == 'acme'", message: "only acme's workflows" }],
      username: "claims.iss + '/' + claims.sub",
      groups: "['gh:' + vars.owner]",
    });
  });
});
