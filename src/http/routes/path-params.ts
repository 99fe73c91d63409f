/**
 * The path parameters of the /v2 routes as schemas, so the type provider (JsonSchemaToTsProvider)
 * gives each handler its `request.params` type from what the route declares. Path parameters are
 * always present strings, so these refuse nothing; the grammar (repository names, digests,
 * references) is checked in oci/ and registry/, where the error table answers with the right code.
 */
const STRING = { type: 'string' } as const;

export const pathParams = {
  name: { type: 'object', properties: { name: STRING }, required: ['name'] },
  nameDigest: { type: 'object', properties: { name: STRING, digest: STRING }, required: ['name', 'digest'] },
  nameReference: { type: 'object', properties: { name: STRING, reference: STRING }, required: ['name', 'reference'] },
  nameId: { type: 'object', properties: { name: STRING, id: STRING }, required: ['name', 'id'] },
} as const;
