/** Who is asking and what they may ask for: the words policy.ts and explain.ts both speak. */

export const ACTIONS = ['read', 'create', 'update', 'delete', 'detectManifestCollision'] as const;
export type Action = (typeof ACTIONS)[number];

/** Who is asking. `username` undefined means anonymous. */
export interface Identity {
  readonly username?: string;
  readonly groups: readonly string[];
  /** How they proved it: a password, a browser session, or an API key. */
  readonly method?: 'htpasswd' | 'session' | 'apikey' | 'workload';
  /** Who vouches for the name: `htpasswd` or an OpenID provider's key. */
  readonly provider?: string;
  /** The provider's `sub` the name is bound to (OpenID identities only). */
  readonly subject?: string;
}

export const ANONYMOUS: Identity = Object.freeze({ groups: Object.freeze([]) as readonly string[] });
