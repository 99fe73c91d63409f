/**
 * Limits on password and API key guessing that do not lock out a whole address. Homelab clients
 * often share one address (an ingress without TRUST_PROXY, a NAT, a CI host), so failures are
 * counted per account *from* an address, not per address alone:
 *
 * - One account from one address: from the `slowAfter`th failure in a window, each further attempt
 *   waits (`slowStepMs` more per failure, at most `maxSlowMs`); at `blockAfter` failures, attempts
 *   for that account from that address are refused (429) unchecked until the window ends. Other
 *   accounts from the same address are not affected.
 * - One address, all accounts (spraying names): at `addressBlockAfter` failures in a window, only
 *   accounts that signed in successfully from that address within `knownForMs` are still checked;
 *   attempts for any other name are refused unchecked until the window ends.
 * - A refused attempt is not a failure: it checks nothing and counts nothing, so a robot retrying a
 *   stale password forever keeps only its own account blocked, never the address.
 *
 * The windows are fixed (they start at the first failure), as counters with an expiry give them.
 * Attempts for one account from one address are checked one at a time in this process, so a burst
 * of parallel guesses cannot all pass before the first failure is counted (with replicas, at most
 * one per replica at a time). The counters are the coordination's: shared through Redis when it is
 * configured. When Redis fails, counting goes on in this process (see FallbackCounters): the limits
 * then hold per replica, and nobody is locked out by an outage.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CounterValue, SharedCounters } from '../coordination/coordination.js';
import { KeyedMutex } from '../coordination/keyed-mutex.js';
import { MemoryCounters } from '../coordination/local-coordination.js';

export interface SignInRules {
  windowMs: number;
  slowAfter: number;
  slowStepMs: number;
  maxSlowMs: number;
  blockAfter: number;
  addressBlockAfter: number;
  knownForMs: number;
}

/** The rules docs/operations.md ("Sign-in limits") states; change both together. */
export const DEFAULT_SIGN_IN_RULES: Readonly<SignInRules> = Object.freeze({
  windowMs: 15 * 60_000,
  slowAfter: 5,
  slowStepMs: 250,
  maxSlowMs: 2_000,
  blockAfter: 10,
  addressBlockAfter: 50,
  knownForMs: 30 * 86_400_000,
});

/** Why an attempt was refused unchecked: its account from this address, or the address. */
export type BlockScope = 'account' | 'address';

export type SignInAttempt<T> = { kind: 'blocked'; scope: BlockScope; retryAfterSeconds: number; reason: string } | { kind: 'checked'; result: T };

export interface SignInLimitsLog {
  info(message: string): void;
  error(message: string): void;
}

/** Key of an account from an address: hashed, so any user name makes a short key and none is stored. */
function pairKey(address: string, account: string): string {
  return createHash('sha256').update(address).update('\n').update(account).digest('base64url').slice(0, 24);
}

export class SignInLimits {
  private readonly attempts = new KeyedMutex();
  private readonly counters: SharedCounters;
  readonly rules: Readonly<SignInRules>;

  /** `shared`: the counters are Redis's, so they get a fallback in this process (FallbackCounters). */
  constructor(counters: SharedCounters, options: { shared?: boolean; log?: SignInLimitsLog; rules?: Partial<SignInRules>; retrySharedMs?: number } = {}) {
    this.counters = options.shared ? new FallbackCounters(counters, options.log, options.retrySharedMs) : counters;
    this.rules = Object.freeze({ ...DEFAULT_SIGN_IN_RULES, ...options.rules });
  }

  /**
   * Runs one credential check for `account` (the user name tried; '' when none could be read) from
   * `address`, under the limits: refused unchecked when blocked, delayed when slowed, then counted
   * as `check` reports (`accepted`).
   */
  attempt<T>(address: string, account: string, check: () => Promise<{ accepted: boolean; result: T }>): Promise<SignInAttempt<T>> {
    const pair = pairKey(address, account);
    return this.attempts.run(pair, async () => {
      const [failures, fromAddress, known] = await this.counters.read([`f:${pair}`, `a:${address}`, `k:${pair}`]);
      const blocked = this.blocked(failures!, fromAddress!, known!);
      if (blocked) return blocked;
      const delay = this.delayAfter(failures!.count);
      if (delay > 0) await sleep(delay);
      const outcome = await check();
      if (outcome.accepted) {
        // The mark is written when missing or half gone, not at every request of a busy robot.
        if (known!.resetInMs < this.rules.knownForMs / 2) await this.counters.increment(`k:${pair}`, this.rules.knownForMs, { renew: true });
      } else {
        await Promise.all([this.counters.increment(`f:${pair}`, this.rules.windowMs), this.counters.increment(`a:${address}`, this.rules.windowMs)]);
      }
      return { kind: 'checked', result: outcome.result };
    });
  }

  private blocked(failures: CounterValue, fromAddress: CounterValue, known: CounterValue): SignInAttempt<never> | undefined {
    const retryAfter = (value: CounterValue) => Math.max(1, Math.ceil(value.resetInMs / 1000));
    if (failures.count >= this.rules.blockAfter) {
      return { kind: 'blocked', scope: 'account', retryAfterSeconds: retryAfter(failures), reason: 'too many failed sign-ins for this account from this address' };
    }
    if (fromAddress.count >= this.rules.addressBlockAfter && known.count === 0) {
      return { kind: 'blocked', scope: 'address', retryAfterSeconds: retryAfter(fromAddress), reason: 'too many failed sign-ins from this address for accounts not signed in from it before' };
    }
    return undefined;
  }

  private delayAfter(failures: number): number {
    if (failures < this.rules.slowAfter) return 0;
    return Math.min(this.rules.maxSlowMs, (failures - this.rules.slowAfter + 1) * this.rules.slowStepMs);
  }
}

/** How long counting stays in this process after Redis failed, before Redis is asked again. */
const RETRY_SHARED_MS = 5_000;

/**
 * Shared counters that fall back to counters in this process while the shared ones fail (Redis
 * down or hung): a sign-in never waits on an outage more than once per `RETRY_SHARED_MS`, is never
 * refused because of one, and is still limited (per replica). Counts made meanwhile stay local;
 * when Redis answers again, the shared counts are used again.
 */
export class FallbackCounters implements SharedCounters {
  private readonly local = new MemoryCounters();
  private sharedAgainAt = 0;
  private down = false;

  constructor(
    private readonly shared: SharedCounters,
    private readonly log?: SignInLimitsLog,
    private readonly retrySharedMs = RETRY_SHARED_MS,
  ) {}

  increment(key: string, windowMs: number, options?: { renew?: boolean }): Promise<CounterValue> {
    return this.use((counters) => counters.increment(key, windowMs, options));
  }

  read(keys: readonly string[]): Promise<CounterValue[]> {
    return this.use((counters) => counters.read(keys));
  }

  private async use<T>(work: (counters: SharedCounters) => Promise<T>): Promise<T> {
    if (Date.now() < this.sharedAgainAt) return work(this.local);
    try {
      const value = await work(this.shared);
      if (this.down) this.log?.info('sign-in limits: counting in Redis again');
      this.down = false;
      return value;
    } catch (error) {
      if (!this.down) this.log?.error(`sign-in limits: the shared counters failed (${(error as Error).message}); counting failed sign-ins in this process until they answer`);
      this.down = true;
      this.sharedAgainAt = Date.now() + this.retrySharedMs;
      return work(this.local);
    }
  }
}
