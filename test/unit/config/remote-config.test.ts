import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/load-config.js';
import { configProblems } from '../../helpers/config-problems.js';

const problems = configProblems;

const s3 = { name: 's3', rootdirectory: '/zot/', region: 'eu-west-1', regionendpoint: 'rgw.example.org:7480', bucket: 'registry', secure: false };

describe('storageDriver and cacheDriver', () => {
  it('reads zot s3 keys: host:port endpoint takes its scheme from secure, path style by default, prefix without slashes', () => {
    const config = buildConfig({ storage: { rootDirectory: '/x', storageDriver: s3, cacheDriver: { name: 'redis', url: 'redis://127.0.0.1:6379/2', keyprefix: 'zot' } } }, 'f.json');
    expect(config.storage.s3).toEqual({ bucket: 'registry', rootDirectory: 'zot', region: 'eu-west-1', endpoint: 'http://rgw.example.org:7480', forcePathStyle: true, skipVerify: false });
    expect(config.storage.redis).toEqual({ url: 'redis://127.0.0.1:6379/2', keyPrefix: 'zot' });
    expect(config.warnings).toEqual([]);
  });

  it('matches driver keys case-insensitively and honours forcepathstyle false and https endpoints', () => {
    const config = buildConfig({ storage: { rootDirectory: '/x', storageDriver: { Name: 's3', Bucket: 'b1', RegionEndpoint: 'https://s3.example.org', ForcePathStyle: false } } }, 'f.json');
    expect(config.storage.s3).toMatchObject({ bucket: 'b1', endpoint: 'https://s3.example.org', forcePathStyle: false, region: 'us-east-1', rootDirectory: '' });
    expect(config.warnings.join('\n')).toMatch(/without \/storage\/cacheDriver \(redis\).*one replica/);
  });

  it('refuses other drivers, a missing bucket, half a key pair and Redis clusters, naming the JSON path', () => {
    expect(problems({ storage: { rootDirectory: '/x', storageDriver: { name: 'gcs', bucket: 'b1' } } })).toEqual([expect.stringMatching(/^f\.json: \/storage\/storageDriver: not supported by Berth \(name "gcs"/)]);
    expect(problems({ storage: { rootDirectory: '/x', storageDriver: { name: 's3' } } })).toEqual(['f.json: /storage/storageDriver/bucket: is required; found nothing']);
    expect(problems({ storage: { rootDirectory: '/x', storageDriver: { ...s3, accesskey: 'AK' } } })).toEqual([expect.stringMatching(/accesskey and secretkey go together/)]);
    expect(problems({ storage: { rootDirectory: '/x', cacheDriver: { name: 'redis', addr: ['a:6379', 'b:6379'] } } })).toEqual([expect.stringMatching(/\/storage\/cacheDriver: not supported by Berth \(several addresses/)]);
    expect(problems({ storage: { rootDirectory: '/x', cacheDriver: { name: 'dynamodb', cacheTablename: 't' } } })).toEqual([expect.stringMatching(/\/storage\/cacheDriver: not supported by Berth \(name "dynamodb"/)]);
    expect(problems({ storage: { rootDirectory: '/x', cacheDriver: { name: 'redis', url: 'http://x' } } })).toEqual([expect.stringMatching(/\/storage\/cacheDriver\/url: must be redis:\/\//)]);
  });

  it('never repeats a Redis password in an error, and warns about inline secrets', () => {
    const refused = problems({ storage: { rootDirectory: '/x', cacheDriver: { name: 'redis', url: 'redis://u:hunter2@h:1?addr=h2:1' } } });
    expect(refused.join('\n')).not.toContain('hunter2');
    const config = buildConfig({ storage: { rootDirectory: '/x', storageDriver: { ...s3, accesskey: 'AK', secretkey: 'SK' }, cacheDriver: { name: 'redis', url: 'redis://h:1', password: 'pw' } } }, 'f.json');
    expect(config.storage.redis!.url).toBe('redis://:pw@h:1');
    expect(config.warnings.join('\n')).toMatch(/secretkey: a secret inline/);
    expect(config.warnings.join('\n')).toMatch(/Redis password inline/);
    expect(config.warnings.join('\n')).not.toContain('SK');
  });

  it('takes the session driver apart from the cache driver; name local means none', () => {
    const config = buildConfig({ storage: { rootDirectory: '/x' }, http: { auth: { sessionDriver: { name: 'redis', url: 'redis://s:6379', keyprefix: 'zotsession' } } } }, 'f.json');
    expect(config.http.auth.sessionRedis).toEqual({ url: 'redis://s:6379', keyPrefix: 'zotsession' });
    expect(buildConfig({ storage: { rootDirectory: '/x' }, http: { auth: { sessionDriver: { name: 'local' } } } }, 'f.json').http.auth.sessionRedis).toBeUndefined();
  });

  it('needs rootDirectory only without remote storage', () => {
    expect(problems({ storage: {} })).toEqual(['f.json: /storage/rootDirectory: is required; found nothing']);
    const config = buildConfig({ storage: { storageDriver: s3, cacheDriver: { name: 'redis', url: 'redis://h:1' } } }, 'f.json');
    expect(config.storage.rootDirectory).toMatch(/\/storage$/);
  });

  it('still refuses zot cluster, pointing at the replica set-up', () => {
    expect(problems({ storage: { rootDirectory: '/x' }, cluster: { members: ['a:1'], hashKey: 'k' } })).toEqual([expect.stringMatching(/\/cluster: not supported by Berth \(.*one bucket.*one Redis/)]);
  });
});
