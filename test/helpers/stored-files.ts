/**
 * What a test server stored, read the way an operator's tools would: files under the storage root,
 * or objects in the bucket (same layout, keys relative to the bucket's root). Lets one HTTP test
 * check the on-storage layout whichever backend the server runs on.
 */
import { readFile, readdir } from 'node:fs/promises';
import { IDLE_FOLD_MS } from '../../src/storage/fs-indexes.js';
import { Layout } from '../../src/storage/layout.js';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3Client } from './services.js';

export interface StoredFiles {
  /** The bytes at `relative` (e.g. `mf/basic/index.json`). */
  read(relative: string): Promise<Buffer>;
  /** The names directly inside folder `relative`, sorted (a folder in S3 is a key prefix). */
  list(relative: string): Promise<string[]>;
}

/**
 * Waits until every index journal under a filesystem storage root is folded into its index.json
 * (src/storage/fs-indexes.ts: a repository idle for IDLE_FOLD_MS), so that index.json holds every
 * push, as zot would read it.
 */
export async function indexesSettled(root: string): Promise<void> {
  const folder = new Layout(root).indexJournals();
  for (const deadline = Date.now() + 5 * IDLE_FOLD_MS; ;) {
    const pending = (await readdir(folder).catch(() => [])).filter((file) => file.endsWith('.jsonl'));
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`index journals not folded after ${5 * IDLE_FOLD_MS} ms: ${pending.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function storedFiles(server: { root: string; bucket?: string }): StoredFiles {
  const { bucket } = server;
  if (bucket === undefined) {
    return {
      // index.json once every push is in it (the filesystem store folds its journal lazily).
      read: async (relative) => {
        if (path.basename(relative) === 'index.json') await indexesSettled(server.root);
        return readFile(path.join(server.root, relative));
      },
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
