/** ftp:// downloads with basic-ftp (plain FTP, passive mode, binary). */
import { Client, FTPError } from 'basic-ftp';
import type { Writable } from 'node:stream';
import { refusedDestination } from './destinations.js';
import {
  FetchError,
  abortedError,
  classify,
  redact,
  seconds,
  sizeMismatch,
  writeError,
  type FetchOptions,
  type FetchResult,
} from './common.js';

/** Decoded user, password and remote path of an ftp:// URL (checkUrl has vetted them). */
export function ftpParts(url: URL): { user: string; password: string; path: string } {
  const user = url.username ? decodeURIComponent(url.username) : 'anonymous';
  const password = url.username ? decodeURIComponent(url.password) : 'anonymous@';
  // RFC 1738: the path is relative to the login directory; a leading %2F makes it absolute.
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return { user, password, path };
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function classifyFtp(err: unknown, url: URL, stallMs: number): FetchError {
  if (err instanceof FetchError) return err;
  const where = redact(url);
  const peer = `${url.hostname}:${url.port || '21'}`;
  if (err instanceof FTPError) {
    const reply = err.message.trim();
    if (err.code === 530 || err.code === 532) {
      return new FetchError(`FTP login failed at ${peer} (${reply}) for ${where}`, 'forbidden');
    }
    if (err.code === 550 || (err.code >= 500 && /no such file|not found|ENOENT|does not exist/i.test(reply))) {
      return new FetchError(`${where} not found: FTP server ${peer} replied "${reply}"`, 'not_found');
    }
    return new FetchError(`FTP server ${peer} replied "${reply}" for ${where}`, 'other');
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (/^Timeout\b|^Client is closed because Timeout/.test(msg) || /^Timeout when trying/.test(msg)) {
    return new FetchError(`no data from ${peer} for ${seconds(stallMs)}: transfer stalled`, 'stalled');
  }
  if (/Server closed connection unexpectedly|Unexpected FTP response|Can't parse/.test(msg)) {
    return new FetchError(`FTP protocol error with ${peer}: ${msg} (${where})`, 'protocol');
  }
  return classify(err, where, peer);
}

export async function fetchFtp(url: URL, out: Writable, opts: FetchOptions): Promise<FetchResult> {
  const where = redact(url);
  const { user, password, path } = ftpParts(url);
  // The client timeout guards every control reply and, through basic-ftp's transfer watchdog, the
  // data connection: it only counts time spent waiting for the server, not our own backpressure.
  const client = new Client(opts.stallTimeoutMs);
  let origin: 'out' | undefined;
  const onOutError = () => {
    origin ??= 'out';
  };
  out.once('error', onOutError);
  let progressError: unknown;
  const onAbort = () => client.close();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal.aborted) throw abortedError(where);
    // Resolved and checked here, then connected to by address; data connections go to that same
    // address (basic-ftp ignores other hosts in PASV replies).
    const host = await opts.destinations.resolve(hostOf(url));
    await client.access({ host, port: url.port ? Number(url.port) : 21, user, password, secure: false });
    const peerAddress = client.ftp.socket.remoteAddress;
    if (peerAddress && opts.destinations.refuses(peerAddress)) throw refusedDestination();
    let total: number | null = null;
    try {
      total = await client.size(path);
    } catch (err) {
      // SIZE is optional (and refused by some servers for ASCII mode or directories); only a dead
      // connection matters here.
      if (client.closed) throw err;
    }
    let bytes = 0;
    client.trackProgress((info) => {
      if (info.bytes <= bytes || progressError !== undefined) return;
      bytes = info.bytes;
      try {
        opts.onProgress(bytes, total);
      } catch (err) {
        progressError = err;
        client.close();
      }
    });
    opts.onProgress(0, total);
    await client.downloadTo(out, path);
    client.trackProgress();
    if (!out.writableFinished) {
      await new Promise<void>((resolve, reject) => {
        out.once('finish', resolve);
        out.once('error', reject);
      });
    }
    if (total !== null && bytes !== total) throw sizeMismatch(total, bytes);
    return { bytes, total };
  } catch (err) {
    if (progressError !== undefined) throw new FetchError(`progress callback failed: ${String(progressError)}`, 'other');
    if (opts.signal.aborted) throw abortedError(where);
    if (origin === 'out') throw writeError(err);
    throw classifyFtp(err, url, opts.stallTimeoutMs);
  } finally {
    client.trackProgress();
    opts.signal.removeEventListener('abort', onAbort);
    out.off('error', onOutError);
    client.close();
  }
}
