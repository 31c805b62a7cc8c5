/**
 * URL downloaders for the ISO store's `fetchiso` task: http(s), ftp and confined file:// imports.
 * Everything streams with backpressure into a caller-owned Writable; no shell, no buffering.
 */
import type { Writable } from 'node:stream';
import { FetchError, redact, writeError, type FetchOptions, type FetchResult } from './common.js';
import { fetchHttp } from './http.js';
import { fetchFile } from './file.js';

export { FetchError, redact, type FetchErrorKind, type FetchOptions } from './common.js';

const SCHEMES = new Set(['http:', 'https:', 'ftp:', 'file:']);
const CONTROL = /[\0\r\n]/;

function decodes(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/**
 * 'http:' | 'https:' | 'ftp:' | 'file:' accepted; anything else => FetchError 'bad_url'. Also rejects URLs
 * with credentials in them for file:, and hosts other than '' / 'localhost' for file:.
 */
export function checkUrl(url: URL): void {
  const where = redact(url);
  if (!SCHEMES.has(url.protocol)) {
    throw new FetchError(`unsupported URL scheme "${url.protocol.replace(/:$/, '')}" in ${where} (use http, https, ftp or file)`, 'bad_url');
  }
  if (url.protocol === 'file:') {
    if (url.username || url.password) throw new FetchError(`${where}: file URLs must not contain credentials`, 'bad_url');
    if (url.hostname !== '' && url.hostname !== 'localhost') {
      throw new FetchError(`${where}: file URLs must not name a host other than localhost`, 'bad_url');
    }
    return;
  }
  if (!url.hostname) throw new FetchError(`${where}: the URL has no host`, 'bad_url');
  if (url.protocol === 'ftp:') {
    // Everything below ends up on the FTP control connection: CR/LF would inject commands.
    for (const [part, value] of [
      ['path', url.pathname],
      ['user name', url.username],
      ['password', url.password],
    ] as const) {
      const decoded = decodes(value);
      if (decoded === null || CONTROL.test(decoded)) {
        throw new FetchError(`${where}: invalid characters or percent-encoding in the ${part}`, 'bad_url');
      }
    }
    if (url.pathname === '' || url.pathname.endsWith('/')) {
      throw new FetchError(`${where}: the URL does not name a file`, 'bad_url');
    }
  }
}

/** The last path segment of the URL, percent-decoded, or null if empty. No validation beyond that (the store validates names). */
export function nameFromUrl(url: URL): string | null {
  const segment = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  if (segment === '') return null;
  const name = decodes(segment);
  return name === '' ? null : name;
}

/** Destroys `out` (if the failure path did not already) and waits until its file descriptor is closed. */
async function closeOut(out: Writable): Promise<void> {
  if (out.closed) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 2000); // streams created with emitClose: false never say 'close'
    out.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    out.on('error', () => {}); // the destroy reason was already reported by the rejection
    if (!out.destroyed) out.destroy();
  });
}

/**
 * Streams the resource into `out` (already-open write stream the caller owns the path of). Resolves with the
 * byte count once `out` has finished (flushed) — so ENOSPC surfaces as FetchError 'disk_full'. Rejects with
 * FetchError on any failure; never leaves sockets open. If the size was announced (Content-Length / FTP SIZE /
 * stat) and the received count differs => 'size_mismatch'.
 *
 * On rejection `out` has been destroyed and closed (the caller should remove the partial file); on success it
 * has been ended (finished) but the caller still owns the path (fsync/rename as it sees fit).
 */
export async function fetchTo(url: URL, out: Writable, opts: FetchOptions): Promise<FetchResult> {
  // `out` may fail before any data flows (e.g. its open() failing with EEXIST): listen from the start so that
  // such an error is never unhandled, and stop the transfer as soon as it happens.
  const stop = new AbortController();
  let outError: unknown;
  const onOutError = (err: unknown) => {
    outError ??= err;
    stop.abort();
  };
  const onAbort = () => stop.abort();
  out.on('error', onOutError);
  if (opts.signal.aborted) stop.abort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });
  const inner: FetchOptions = { ...opts, signal: stop.signal };
  try {
    checkUrl(url);
    switch (url.protocol) {
      case 'http:':
      case 'https:':
        return await fetchHttp(url, out, inner);
      case 'ftp:':
        // Loaded on the first ftp:// fetch: basic-ftp is 1 MB of an idle daemon's heap, and most never use it.
        return await (await import('./ftp.js')).fetchFtp(url, out, inner);
      default:
        return await fetchFile(url, out, inner);
    }
  } catch (err) {
    await closeOut(out);
    // An 'aborted' that the caller did not ask for comes from `out` failing (the per-scheme code reports a
    // write error itself when it sees `out` fail first; `out` also errors when a failing source tears the
    // pipeline down, which must not mask the real cause).
    if (outError !== undefined && !opts.signal.aborted && (!(err instanceof FetchError) || err.kind === 'aborted')) {
      throw writeError(outError);
    }
    if (err instanceof FetchError) throw err;
    throw new FetchError(`${err instanceof Error ? err.message : String(err)} (${redact(url)})`, 'other');
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
    out.off('error', onOutError);
  }
}
