/**
 * The live authentication and authorization state: the htpasswd users, the compiled accessControl
 * policy and the authenticator over both. `apply` swaps in a new config's state without a restart;
 * requests in flight keep the state they started with.
 */
import { AccessPolicy } from '../access/policy.js';
import type { BerthConfig } from '../config/config.js';
import { Authenticator } from './authenticator.js';
import { HtpasswdStore, type HtpasswdLog } from './htpasswd.js';

export class Security {
  policy!: AccessPolicy;
  authenticator!: Authenticator;
  failDelayMs = 0;
  realm = '';
  private htpasswd: HtpasswdStore | undefined;

  private constructor(private readonly log: HtpasswdLog) {}

  static async create(config: BerthConfig, log: HtpasswdLog): Promise<Security> {
    const security = new Security(log);
    await security.apply(config);
    return security;
  }

  async apply(config: BerthConfig): Promise<void> {
    const { htpasswdPath, failDelayMs } = config.http.auth;
    let htpasswd = this.htpasswd;
    if (htpasswd?.file !== htpasswdPath) {
      htpasswd = htpasswdPath === undefined ? undefined : await HtpasswdStore.open(htpasswdPath);
      htpasswd?.watch(this.log);
    }
    const policy = AccessPolicy.compile(config.http.accessControl, htpasswd !== undefined);
    // Swap everything at once, after everything that can fail has succeeded.
    if (htpasswd !== this.htpasswd) this.htpasswd?.close();
    this.htpasswd = htpasswd;
    this.policy = policy;
    this.authenticator = new Authenticator(htpasswd, (username) => policy.groupsOf(username));
    this.failDelayMs = failDelayMs;
    this.realm = config.http.realm;
  }

  close(): void {
    this.htpasswd?.close();
  }
}
