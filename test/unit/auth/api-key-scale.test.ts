/**
 * The cost of an API key check, a creation and a revocation does not grow with the number of keys:
 * every record operation is counted, for a store holding 4 keys and one holding 4,000 (one user's,
 * the case that slowed every key request before), and the counts must be the same. No operation may
 * list a whole map (`entries`), the scan that made a check cost one comparison per key.
 */
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiKeyStore, type ApiKeyRecord } from '../../../src/auth/api-keys.js';
import type { SharedRecords } from '../../../src/coordination/coordination.js';
import { LocalCoordination, MemoryRecords } from '../../../src/coordination/local-coordination.js';

const ALICE = { username: 'alice', provider: 'htpasswd' };
type Counts = Record<'get' | 'set' | 'take' | 'entries', number>;

/** Records that count what is asked of them. */
class CountingRecords<T> implements SharedRecords<T> {
  readonly counts: Counts = { get: 0, set: 0, take: 0, entries: 0 };
  readonly inner = new MemoryRecords<T>();

  get(key: string) {
    this.counts.get += 1;
    return this.inner.get(key);
  }
  set(key: string, value: T, options?: { ttlMs?: number }) {
    this.counts.set += 1;
    return this.inner.set(key, value, options);
  }
  take(key: string) {
    this.counts.take += 1;
    return this.inner.take(key);
  }
  entries() {
    this.counts.entries += 1;
    return this.inner.entries();
  }
}

/** A store whose `api-keys` map already holds `legacy` keys of `hoarder`, as an older Berth wrote them. */
async function storeWith(legacy: number) {
  const maps = new Map<string, CountingRecords<unknown>>();
  const coordination = new LocalCoordination((map) => {
    const records = new CountingRecords<unknown>();
    maps.set(map, records);
    return records;
  });
  const keys = coordination.records<ApiKeyRecord>('api-keys') as CountingRecords<ApiKeyRecord>;
  for (let i = 0; i < legacy; i += 1) {
    const id = randomUUID();
    await keys.inner.set(id, { id, owner: 'hoarder', label: `k${i}`, hash: createHash('sha256').update(`zak_${i}`).digest('hex'), createdAt: new Date().toISOString() });
  }
  const store = new ApiKeyStore(coordination);
  // Whatever a first use does once (indexing what an older version wrote) is not what is measured.
  await store.list('nobody');
  const total = (): Counts => {
    const sum: Counts = { get: 0, set: 0, take: 0, entries: 0 };
    for (const records of maps.values()) for (const name of Object.keys(sum) as Array<keyof Counts>) sum[name] += records.counts[name];
    return sum;
  };
  /** The record operations `work` asked for. */
  const measure = async (work: () => Promise<unknown>): Promise<Counts> => {
    const before = total();
    await work();
    // The `lastUsed` update runs in the background: let it finish inside the measurement.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = total();
    return { get: after.get - before.get, set: after.set - before.set, take: after.take - before.take, entries: after.entries - before.entries };
  };
  return { store, measure };
}

async function costs(legacy: number) {
  const { store, measure } = await storeWith(legacy);
  for (let i = 0; i < 3; i += 1) await store.create(ALICE, `old-${i}`, undefined, undefined);
  let created!: { key: string; record: ApiKeyRecord };
  const create = await measure(async () => (created = await store.create(ALICE, 'new', undefined, undefined)));
  const verify = await measure(async () => expect(await store.verify('alice', created.key)).toMatchObject({ id: created.record.id }));
  const wrongOwner = await measure(async () => expect(await store.verify('bob', created.key)).toBeUndefined());
  const unknown = await measure(async () => expect(await store.verify('alice', `zak_${'0'.repeat(32)}`)).toBeUndefined());
  const list = await measure(async () => expect(await store.list('alice')).toHaveLength(4));
  const revoke = await measure(async () => expect(await store.revoke('alice', created.record.id)).toBe(true));
  return { create, verify, wrongOwner, unknown, list, revoke };
}

describe('API key cost', () => {
  it('is the same with 4,000 keys as with 4: no scan on create, verify, list or revoke', { timeout: 30_000 }, async () => {
    const small = await costs(0);
    const large = await costs(4_000);
    expect(large).toEqual(small);
    for (const [operation, counts] of Object.entries(large)) expect(counts.entries, operation).toBe(0);
    // A check is a couple of lookups, not one per key.
    expect(large.verify.get).toBeLessThanOrEqual(3);
  });

  it('still finds the keys an older version wrote, and their owner can revoke them', async () => {
    const { store } = await storeWith(5);
    expect(await store.verify('hoarder', 'zak_3')).toMatchObject({ owner: 'hoarder', label: 'k3' });
    const listed = await store.list('hoarder');
    expect(listed).toHaveLength(5);
    expect(await store.revoke('hoarder', listed.find((key) => key.label === 'k3')!.id)).toBe(true);
    expect(await store.verify('hoarder', 'zak_3')).toBeUndefined();
    expect(await store.list('hoarder')).toHaveLength(4);
  });
});
