/**
 * Registry tokens across replicas: two WorkloadTokens over two RedisCoordinations with the same
 * prefix (and each its own disk) stand for two Berth replicas. A token issued by one is accepted by
 * the other (one secret, made once, shared through Redis); a replica of another Redis (another
 * prefix) has another secret and refuses it; a single process keeps its secret in a 0600 file.
 */
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load-config.js';
import { RedisCoordination } from '../../../src/coordination/redis-coordination.js';
import { localCoordination } from '../../../src/storage/file-records.js';
import { WorkloadTokens } from '../../../src/workload/workload-tokens.js';
import { scratchDir } from '../../helpers/scratch.js';
import { redisUrl } from '../../helpers/services.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const SERVICE = 'registry.example';
const ROBOT = Object.freeze({ username: 'robot', groups: Object.freeze(['ci']), method: 'htpasswd' as const, provider: 'htpasswd' });
const ACCESS = [{ name: 'ci/app', actions: ['pull' as const, 'push' as const] }];

async function configFor(root: string) {
  return buildConfig({ storage: { rootDirectory: root }, http: { auth: { bearer: { service: SERVICE } } } }, 'test.json');
}

async function replica(keyPrefix: string): Promise<WorkloadTokens> {
  const coordination = await RedisCoordination.start({ url: redisUrl(), keyPrefix });
  cleanup.push(() => coordination.close());
  return new WorkloadTokens(await configFor(await scratchDir('replica')), coordination);
}

describe('registry tokens over Redis', () => {
  it('a token issued by one replica is accepted by another of the same Redis, with its identity and grants', async () => {
    const prefix = `test-${randomBytes(6).toString('hex')}`;
    const [a, b] = await Promise.all([replica(prefix), replica(prefix)]);
    const { token } = await a.issue(ROBOT, ACCESS, SERVICE);
    const verdict = await b.verify(token);
    expect(verdict).toMatchObject({ ok: true, kind: 'registry', identity: { username: 'robot', groups: ['ci'], method: 'htpasswd', provider: 'htpasswd' } });
    expect(verdict.ok && verdict.kind === 'registry' && [...verdict.grants.get('ci/app')!]).toEqual(['read', 'create', 'update']);
  });

  it('a replica of another Redis has another secret and refuses it', async () => {
    const a = await replica(`test-${randomBytes(6).toString('hex')}`);
    const other = await replica(`test-${randomBytes(6).toString('hex')}`);
    const { token } = await a.issue(ROBOT, ACCESS, SERVICE);
    expect(await other.verify(token)).toEqual({ ok: false, reason: 'registry token: the signature does not verify' });
  });

  it('a single process keeps its secret in a 0600 file under _berth, and a restart keeps accepting its tokens', async () => {
    const root = await scratchDir('single');
    const config = await configFor(root);
    const first = new WorkloadTokens(config, localCoordination(root));
    const { token } = await first.issue(ROBOT, ACCESS, SERVICE);
    const folder = path.join(root, '_berth', 'registry-token-keys');
    const [file] = await readdir(folder);
    expect((await stat(path.join(folder, file!))).mode & 0o777).toBe(0o600);
    const restarted = new WorkloadTokens(config, localCoordination(root));
    expect(await restarted.verify(token)).toMatchObject({ ok: true, kind: 'registry' });
  });
});
