/**
 * zot.json's shape as TypeScript, derived from schemas/config.schema.json so the two cannot drift:
 * the schema is the one source (Ajv validates against it, editors read it), and FromSchema turns
 * its generated type copy (config-schema.generated.ts, checked against the JSON by a test) into
 * the types below. A document has this type only after Ajv accepted it (load-config.ts narrows
 * with the validator's type guard); before that it is `unknown`.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type { ConfigSchema } from './config-schema.generated.js';

/** A zot.json that passed the schema, keys in the schema's spelling (normalize-keys.ts). */
export type ZotConfig = FromSchema<ConfigSchema>;

type Storage = ZotConfig['storage'];
type Auth = NonNullable<NonNullable<ZotConfig['http']>['auth']>;

/** `http.accessControl` as written. */
export type ZotAccessControl = NonNullable<NonNullable<ZotConfig['http']>['accessControl']>;
/** `http.auth.openid`. */
export type ZotOpenid = NonNullable<Auth['openid']>;
/** `http.auth.bearer`, as zot.json writes it. */
export type ZotBearer = NonNullable<Auth['bearer']>;
/** One entry of `http.auth.openid.providers`. */
export type ZotOpenidProvider = ZotOpenid['providers'][string];
/** `storage.storageDriver`. */
export type ZotStorageDriver = NonNullable<Storage['storageDriver']>;
/** `storage.cacheDriver` or `http.auth.sessionDriver`. */
export type ZotRedisDriver = NonNullable<Storage['cacheDriver']> | NonNullable<Auth['sessionDriver']>;
/** `storage.retention`. */
export type ZotRetention = NonNullable<Storage['retention']>;
/** `extensions.events`. */
export type ZotEvents = NonNullable<NonNullable<ZotConfig['extensions']>['events']>;
/** `extensions.sync`. */
export type ZotSync = NonNullable<NonNullable<ZotConfig['extensions']>['sync']>;
