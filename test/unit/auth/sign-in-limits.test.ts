/**
 * The sign-in limits' rules on counters in memory (the same code runs on Redis's: see
 * test/http/sign-in-limits.test.ts for replicas), with short windows and delays so each rule is
 * seen in milliseconds: per account from an address, per address for names never seen there,
 * bursts, and the fallback when the shared counters fail.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MemoryCounters } from '../../../src/coordination/local-coordination.js';
import type { CounterValue, SharedCounters } from '../../../src/coordination/coordination.js';
import { SignInLimits, type SignInRules } from '../../../src/auth/sign-in-limits.js';

const RULES: Partial<SignInRules> = { windowMs: 400, slowAfter: 3, slowStepMs: 20, maxSlowMs: 50, blockAfter: 5, addressBlockAfter: 12, knownForMs: 60_000 };
const PASSWORDS: Record<string, string> = { alice: 'a-pw', bob: 'b-pw', ci: 'ci-pw' };

/** One attempt: `password` for `account` from `address`; the result is what the limits let happen. */
async function attempt(limits: SignInLimits, address: string, account: string, password: string) {
  let checked = false;
  const outcome = await limits.attempt(address, account, async () => {
    checked = true;
    return { accepted: PASSWORDS[account] === password, result: PASSWORDS[account] === password };
  });
  return { outcome: outcome.kind === 'blocked' ? `blocked:${outcome.scope}` : outcome.result ? 'ok' : 'wrong', checked, attempt: outcome };
}

describe('sign-in limits', () => {
  it('slow and then block one account from one address, while other accounts from it are served', async () => {
    const limits = new SignInLimits(new MemoryCounters(), { rules: RULES });
    const times: number[] = [];
    for (let index = 0; index < 5; index += 1) {
      const started = performance.now();
      expect((await attempt(limits, '10.0.0.1', 'ci', `stale-${index}`)).outcome).toBe('wrong');
      times.push(performance.now() - started);
    }
    // The first three are answered at once; from the fourth, each waits a step more.
    expect(Math.max(...times.slice(0, 3))).toBeLessThan(15);
    expect(times[3]).toBeGreaterThanOrEqual(18);
    expect(times[4]).toBeGreaterThanOrEqual(38);
    // Blocked: even the right password is not checked, so a guess cannot be confirmed.
    const blocked = await attempt(limits, '10.0.0.1', 'ci', 'ci-pw');
    expect(blocked).toMatchObject({ outcome: 'blocked:account', checked: false });
    expect(blocked.attempt).toMatchObject({ retryAfterSeconds: 1 });
    // Everyone else behind the same address, and the same account from elsewhere, are served.
    expect((await attempt(limits, '10.0.0.1', 'alice', 'a-pw')).outcome).toBe('ok');
    expect((await attempt(limits, '10.0.0.1', 'bob', 'b-pw')).outcome).toBe('ok');
    expect((await attempt(limits, '10.0.0.2', 'ci', 'ci-pw')).outcome).toBe('ok');
    // The window ends: the account is checked again.
    await sleep(450);
    expect((await attempt(limits, '10.0.0.1', 'ci', 'ci-pw')).outcome).toBe('ok');
  });

  it('a robot retrying a stale password forever never blocks the address: refused attempts count nothing', async () => {
    const limits = new SignInLimits(new MemoryCounters(), { rules: { ...RULES, slowStepMs: 1, maxSlowMs: 1 } });
    const results = [];
    for (let index = 0; index < 60; index += 1) results.push((await attempt(limits, '10.0.0.1', 'ci', 'stale')).outcome);
    expect(results.filter((result) => result === 'wrong')).toHaveLength(5);
    expect(results.filter((result) => result === 'blocked:account')).toHaveLength(55);
    // A person who never signed in from here before still can.
    expect((await attempt(limits, '10.0.0.1', 'bob', 'b-pw')).outcome).toBe('ok');
  });

  it('stop spraying names from one address; accounts that signed in from it before keep working', async () => {
    const limits = new SignInLimits(new MemoryCounters(), { rules: RULES });
    expect((await attempt(limits, '10.0.0.9', 'alice', 'a-pw')).outcome).toBe('ok');
    // Twelve names, one guess each: none reaches its own account limit.
    for (let index = 0; index < 12; index += 1) expect((await attempt(limits, '10.0.0.9', `user${index}`, 'guess')).outcome).toBe('wrong');
    expect(await attempt(limits, '10.0.0.9', 'user99', 'guess')).toMatchObject({ outcome: 'blocked:address', checked: false });
    // bob never signed in from this address: refused unchecked, as any sprayed name is.
    expect(await attempt(limits, '10.0.0.9', 'bob', 'b-pw')).toMatchObject({ outcome: 'blocked:address', checked: false });
    // alice did: her account is still checked (and still under its own account limit).
    expect((await attempt(limits, '10.0.0.9', 'alice', 'a-pw')).outcome).toBe('ok');
    expect((await attempt(limits, '10.0.0.9', 'alice', 'wrong')).outcome).toBe('wrong');
    // Another address is not affected.
    expect((await attempt(limits, '10.0.0.10', 'bob', 'b-pw')).outcome).toBe('ok');
    await sleep(450);
    expect((await attempt(limits, '10.0.0.9', 'bob', 'b-pw')).outcome).toBe('ok');
  });

  it('a burst of parallel guesses for one account gets no more checks than the limit', async () => {
    const limits = new SignInLimits(new MemoryCounters(), { rules: { ...RULES, slowStepMs: 1, maxSlowMs: 1 } });
    const results = await Promise.all(Array.from({ length: 40 }, (_, index) => attempt(limits, '10.0.0.1', 'ci', `guess-${index}`)));
    expect(results.filter((result) => result.checked)).toHaveLength(5);
  });

  it('count in this process when the shared counters fail, and use them again once they answer', async () => {
    const shared = new MemoryCounters();
    let failing = false;
    const flaky: SharedCounters = {
      increment: (key, windowMs, options) => (failing ? Promise.reject(new Error('Redis is unreachable: no connection')) : shared.increment(key, windowMs, options)),
      read: (keys): Promise<CounterValue[]> => (failing ? Promise.reject(new Error('Redis is unreachable: no connection')) : shared.read(keys)),
    };
    const logged: string[] = [];
    const limits = new SignInLimits(flaky, {
      shared: true,
      retrySharedMs: 100,
      rules: { ...RULES, slowStepMs: 1, maxSlowMs: 1 },
      log: { info: (line) => logged.push(line), error: (line) => logged.push(line) },
    });
    failing = true;
    // An outage refuses nobody with the right password, and still stops guessing.
    expect((await attempt(limits, '10.0.0.1', 'alice', 'a-pw')).outcome).toBe('ok');
    for (let index = 0; index < 5; index += 1) expect((await attempt(limits, '10.0.0.1', 'ci', 'stale')).outcome).toBe('wrong');
    expect((await attempt(limits, '10.0.0.1', 'ci', 'ci-pw')).outcome).toBe('blocked:account');
    expect(logged.filter((line) => /counting failed sign-ins in this process/.test(line))).toHaveLength(1);
    expect((await shared.read(['a:10.0.0.1']))[0]!.count).toBe(0);
    // Back: the shared counts count (the local ones made during the outage are left behind).
    failing = false;
    await sleep(150);
    expect((await attempt(limits, '10.0.0.1', 'ci', 'ci-pw')).outcome).toBe('ok');
    expect((await attempt(limits, '10.0.0.1', 'bob', 'wrong')).outcome).toBe('wrong');
    expect((await shared.read(['a:10.0.0.1']))[0]!.count).toBe(1);
    expect(logged.at(-1)).toBe('sign-in limits: counting in Redis again');
  });
});
