import path from 'node:path';
import { badRequest, forbidden } from '../core/errors.js';
import { FetchError, checkUrl } from '../store/fetch/index.js';

function insideImportDirs(url: URL, dirs: string[]): boolean {
  const file = path.resolve(decodeURIComponent(url.pathname));
  return dirs.some((dir) => file.startsWith(dir + path.sep));
}

/** A URL a store may fetch from: 400 naming `field` when it is not one, 403 for a file:// outside the import directories. */
export function fetchableUrl(raw: string, importDirs: string[], field = 'url'): URL {
  let url: URL;
  try {
    url = new URL(raw);
    checkUrl(url);
  } catch (err) {
    const message = err instanceof FetchError ? err.message : `not a URL: ${(err as Error).message}`;
    throw badRequest(`${field}: ${message}`, [{ path: `/args/${field}`, message }]);
  }
  if (url.protocol === 'file:' && !insideImportDirs(url, importDirs)) {
    // The fetcher checks again after resolving symlinks; this answers the obvious case at once.
    throw forbidden(`${field}: ${url.pathname} is outside the import directories (config iso.import_dirs)`);
  }
  return url;
}
