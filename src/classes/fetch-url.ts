import path from 'node:path';
import type { Config } from '../core/config.js';
import { badRequest, forbidden } from '../core/errors.js';
import { FetchError, checkUrl } from '../store/fetch/index.js';

function insideImportDirs(url: URL, dirs: string[]): boolean {
  const file = path.resolve(decodeURIComponent(url.pathname));
  return dirs.some((dir) => file.startsWith(dir + path.sep));
}

/** The `url` of a store fetch (ISO or image), checked: 400 naming the field, 403 for a file:// outside the import dirs. */
export function fetchUrl(raw: string, config: Config): URL {
  let url: URL;
  try {
    url = new URL(raw);
    checkUrl(url);
  } catch (err) {
    const message = err instanceof FetchError ? err.message : `not a URL: ${(err as Error).message}`;
    throw badRequest(`url: ${message}`, [{ path: '/args/url', message }]);
  }
  if (url.protocol === 'file:' && !insideImportDirs(url, config.iso.import_dirs)) {
    // The fetcher checks again after resolving symlinks; this answers the obvious case at once.
    throw forbidden(`url: ${url.pathname} is outside the import directories (config iso.import_dirs)`);
  }
  return url;
}
