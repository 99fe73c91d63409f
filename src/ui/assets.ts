/**
 * The UI's static files (src/ui/assets: CSS, the progressive-enhancement script, the icon), read
 * once at start from beside this module. `npm run build` copies the folder to dist/ui/assets, so
 * the compiled module finds them the same way (the Docker image gets them with dist/). Each URL carries a hash of the content, so browsers
 * may cache them for a year and still get a new version the moment it changes.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AssetUrls } from './layout.js';

export interface Asset {
  body: Buffer;
  contentType: string;
  /** Short content hash, in the URL and the ETag. */
  version: string;
}

const FILES: Record<keyof AssetUrls, { file: string; contentType: string }> = {
  css: { file: 'berth.css', contentType: 'text/css; charset=utf-8' },
  js: { file: 'berth.js', contentType: 'text/javascript; charset=utf-8' },
  icon: { file: 'icon.svg', contentType: 'image/svg+xml' },
};

export const ASSET_PATH = '/ui/assets/';

export interface AssetBundle {
  urls: AssetUrls;
  /** By file name (`berth.css`). */
  files: Map<string, Asset>;
}

/**
 * Beside this module (src/ui/assets under test, dist/ui/assets once built); then, for a dist/
 * compiled by a bare `tsc` without the copy step, the source tree the checkout still has.
 */
const FOLDERS = [new URL('./assets/', import.meta.url), new URL('../../src/ui/assets/', import.meta.url)];

async function readAsset(file: string): Promise<Buffer> {
  for (const folder of FOLDERS.slice(0, -1)) {
    try {
      return await readFile(new URL(file, folder));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return readFile(new URL(file, FOLDERS[FOLDERS.length - 1]));
}

export async function loadAssets(): Promise<AssetBundle> {
  const files = new Map<string, Asset>();
  const urls = {} as AssetUrls;
  for (const [key, { file, contentType }] of Object.entries(FILES) as Array<[keyof AssetUrls, { file: string; contentType: string }]>) {
    const body = await readAsset(file);
    const version = createHash('sha256').update(body).digest('hex').slice(0, 12);
    files.set(file, { body, contentType, version });
    urls[key] = `${ASSET_PATH}${file}?v=${version}`;
  }
  return { urls, files };
}
