/** Validates manifest documents against the OCI and Docker schemas in schemas/. */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { RegistryError } from '../oci/errors.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const load = (file: string): object => JSON.parse(readFileSync(new URL(`../../schemas/${file}`, import.meta.url), 'utf8')) as object;

const ajv = new Ajv({ allErrors: false, strict: false });
addFormats(ajv);
ajv.addSchema(load('content-descriptor.schema.json'));

const validators: Record<string, ValidateFunction> = {
  [OCI_MANIFEST]: ajv.compile(load('oci-image-manifest.schema.json')),
  [OCI_INDEX]: ajv.compile(load('oci-image-index.schema.json')),
  [DOCKER_MANIFEST]: ajv.compile(load('docker-manifest.schema.json')),
  [DOCKER_MANIFEST_LIST]: ajv.compile(load('docker-manifest-list.schema.json')),
};

/** Throws MANIFEST_INVALID naming the first place where `document` breaks its media type's schema. */
export function assertManifestSchema(mediaType: string, document: unknown): void {
  const validate = validators[mediaType];
  if (!validate) throw new RegistryError('MANIFEST_INVALID', { reason: `unsupported manifest media type "${mediaType}"` });
  if (!validate(document)) {
    const first = validate.errors?.[0];
    throw new RegistryError('MANIFEST_INVALID', { reason: `${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`, mediaType });
  }
}
