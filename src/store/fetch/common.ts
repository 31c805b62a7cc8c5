/**
 * Shared pieces of the URL downloaders: the error type, message helpers, error classification
 * and the metered, backpressure-honouring copy loop used by http(s) and file.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { collectYoung } from '../../core/collect-young.js';
import { REFUSED_DESTINATION, type Destinations } from './destinations.js';

export type FetchErrorKind =
  | 'bad_url'
  | 'not_found'
  | 'refused'
  | 'tls'
  | 'stalled'
  | 'disk_full'
  | 'size_mismatch'
  | 'forbidden'
  | 'too_many_redirects'
  | 'protocol'
  | 'aborted'
  | 'other';

export class FetchError extends Error {
  constructor(
    message: string,
    readonly kind: FetchErrorKind,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export interface FetchOptions {
  /** abort => reject with FetchError kind 'aborted' promptly, all sockets/files closed */
  signal: AbortSignal;
  /** called often; the caller throttles */
  onProgress(received: number, total: number | null): void;
  /** no bytes for this long => 'stalled' */
  stallTimeoutMs: number;
  /** http(s) only; exceeded => 'too_many_redirects' */
  maxRedirects: number;
  /** file:// may only read inside these (after fs.realpath of both; symlinks escaping => 'forbidden') */
  importDirs: string[];
  /** which addresses http(s) and ftp may connect to */
  destinations: Destinations;
  /** extra CA for https (tests) */
  ca?: Buffer;
}

export interface FetchResult {
  bytes: number;
  total: number | null;
}

/** The URL as it may appear in messages and logs: any password is replaced by '***'. */
export function redact(url: URL): string {
  if (!url.password) return url.href;
  const copy = new URL(url.href);
  copy.password = '***';
  return copy.href;
}

export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

export function abortedError(where: string): FetchError {
  return new FetchError(`download of ${where} aborted`, 'aborted');
}

export function stalledError(ms: number): FetchError {
  return new FetchError(`no data for ${seconds(ms)}: transfer stalled`, 'stalled');
}

export function sizeMismatch(expected: number, got: number, why = ''): FetchError {
  return new FetchError(`expected ${expected} bytes, got ${got}${why ? ` (${why})` : ''}`, 'size_mismatch');
}

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

/**
 * One answer for a refused connection, an unreachable host and a destination not allowed: a caller
 * who may only name URLs learns nothing about which internal ports are open.
 */
export function cannotConnect(peer: string): FetchError {
  return new FetchError(
    `cannot connect to ${peer}: refused, unreachable, or not allowed (loopback, link-local, private and this host's addresses need iso.allow_private)`,
    'refused',
  );
}

/** Write-side errors (from the caller's `out` stream). */
export function writeError(err: unknown): FetchError {
  if (err instanceof FetchError) return err;
  const code = errCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new FetchError('disk full while writing', 'disk_full');
  if (code === 'EFBIG') return new FetchError('file too large for the file system while writing', 'disk_full');
  return new FetchError(`write error: ${errMessage(err)}`, 'other');
}

/**
 * Turns a socket / TLS / fs error into a FetchError with an administrator-readable message.
 * `where` is the (redacted) URL, `peer` a host:port description for connection errors.
 */
export function classify(err: unknown, where: string, peer: string): FetchError {
  if (err instanceof FetchError) return err;
  const code = errCode(err);
  const msg = errMessage(err);
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return writeError(err);
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case REFUSED_DESTINATION:
      return cannotConnect(peer);
    case 'ENOTFOUND':
      return new FetchError(`host not found: ${peer.replace(/:\d+$/, "")}`, 'not_found');
    case 'EAI_AGAIN':
      return new FetchError(`DNS lookup failed for ${peer} (temporary failure)`, 'other');
    case 'ETIMEDOUT':
      return new FetchError(`connection to ${peer} timed out`, 'stalled');
    case 'ECONNRESET':
      return new FetchError(`connection reset by ${peer} while downloading ${where}`, 'other');
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return new FetchError(`connection closed by ${peer} before the end of ${where}`, 'protocol');
    case 'ENOENT':
      return new FetchError(`${where} not found`, 'not_found');
    case 'EACCES':
    case 'EPERM':
      return new FetchError(`permission denied reading ${where}`, 'forbidden');
  }
  if (code && (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.startsWith('CERT_'))) {
    return new FetchError(`TLS: ${msg} (${where})`, 'tls');
  }
  if (code && code.startsWith('HPE_')) {
    return new FetchError(`invalid HTTP response from ${where}: ${msg}`, 'protocol');
  }
  return new FetchError(`${msg} (${where})`, 'other');
}

/**
 * How often a copy frees the socket buffers it is done with (see collectYoung). Measured on a 1 GiB
 * fetch: RSS growth 40-53 → 18-20 MiB, and less CPU per GiB (1.78 → 1.30 s), since V8 no longer
 * runs full collections for the external memory that piled up.
 */
const COLLECT_EVERY = 8 * 1024 * 1024;

/**
 * Copies `source` into `out` with backpressure, counting bytes, reporting progress and watching
 * for stalls (no chunk for `stallTimeoutMs` while we were ready to take one). Resolves once `out`
 * has finished. On failure, all streams are destroyed (by pipeline) and a FetchError is thrown.
 */
export async function pump(
  source: Readable,
  out: Writable,
  total: number | null,
  opts: FetchOptions,
  where: string,
  peer: string,
): Promise<FetchResult> {
  let bytes = 0;
  let origin: 'source' | 'out' | undefined;
  const onSourceError = () => {
    origin ??= 'source';
  };
  const onOutError = () => {
    origin ??= 'out';
  };
  source.once('error', onSourceError);
  out.once('error', onOutError);

  // Counted beside the pipe rather than in a Transform stage of its own: one stage less per chunk.
  let collectAt = COLLECT_EVERY;
  const meter = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes >= collectAt) {
      collectAt = bytes + COLLECT_EVERY;
      collectYoung();
    }
    timer.refresh();
    try {
      opts.onProgress(bytes, total);
    } catch (err) {
      source.destroy(err as Error);
    }
  };
  const timer = setTimeout(function onStall() {
    // Our own backpressure (slow disk) is not the server's fault: only count time we were waiting.
    if (out.writableNeedDrain) {
      timer.refresh();
      return;
    }
    source.destroy(stalledError(opts.stallTimeoutMs));
  }, opts.stallTimeoutMs);
  const onAbort = () => source.destroy(abortedError(where));
  opts.signal.addEventListener('abort', onAbort, { once: true });

  try {
    if (opts.signal.aborted) throw abortedError(where);
    opts.onProgress(0, total);
    source.on('data', meter);
    await pipeline(source, out);
  } catch (err) {
    if (err instanceof FetchError) throw err;
    if (opts.signal.aborted) throw abortedError(where);
    if (origin === 'out') throw writeError(err);
    if (total !== null && bytes < total) throw sizeMismatch(total, bytes, 'connection closed early');
    if (errCode(err) === 'ECONNRESET' && err instanceof Error && err.message === 'aborted') {
      throw new FetchError(`connection closed by ${peer} before the end of ${where}`, 'protocol');
    }
    throw classify(err, where, peer);
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onAbort);
    source.off('error', onSourceError);
    source.off('data', meter);
    out.off('error', onOutError);
  }
  if (total !== null && bytes !== total) throw sizeMismatch(total, bytes);
  return { bytes, total };
}
