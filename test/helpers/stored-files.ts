/**
 * What a test server stored, read the way an operator's tools would: files under the storage root,
 * or objects in the bucket (same layout, keys relative to the bucket's root). Lets one HTTP test
 * check the on-storage layout whichever backend the server runs on.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3Client } from './services.js';

export interface StoredFiles {
  /** The bytes at `relative` (e.g. `mf/basic/index.json`). */
  read(relative: string): Promise<Buffer>;
  /** The names directly inside folder `relative`, sorted (a folder in S3 is a key prefix). */
  list(relative: string): Promise<string[]>;
}

export function storedFiles(server: { root: string; bucket?: string }): StoredFiles {
  const { bucket } = server;
  if (bucket === undefined) {
    return {
      read: (relative) => readFile(path.join(server.root, relative)),
      list: async (relative) => (await readdir(path.join(server.root, relative))).sort(),
    };
  }
  return {
    async read(relative) {
      const client = s3Client();
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: relative }));
        return Buffer.from(await object.Body!.transformToByteArray());
      } finally {
        client.destroy();
      }
    },
    async list(relative) {
      const client = s3Client();
      const prefix = `${relative.replace(/\/+$/, '')}/`;
      const names = new Set<string>();
      try {
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
          for (const object of page.Contents ?? []) names.add(object.Key!.slice(prefix.length));
          for (const folder of page.CommonPrefixes ?? []) names.add(folder.Prefix!.slice(prefix.length, -1));
          token = page.NextContinuationToken;
        } while (token);
      } finally {
        client.destroy();
      }
      return [...names].sort();
    },
  };
}
