/** http:// and https:// downloads with node:http / node:https (no fetch/undici). */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Writable } from 'node:stream';
import { refusedDestination } from './destinations.js';
import {
  FetchError,
  abortedError,
  classify,
  pump,
  redact,
  seconds,
  type FetchOptions,
  type FetchResult,
} from './common.js';
import { PlainGet, takesBlocks, type BlockSink } from './plain-http.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function peerOf(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

function statusError(status: number, message: string, where: string): FetchError {
  const text = message || http.STATUS_CODES[status] || '';
  const said = `HTTP ${status}${text ? ` ${text}` : ''} from ${where}`;
  if (status === 404 || status === 410) return new FetchError(said, 'not_found');
  if (status === 401 || status === 403 || status === 407) return new FetchError(said, 'forbidden');
  if (status >= 200 && status < 400) return new FetchError(`unexpected ${said}`, 'protocol');
  return new FetchError(said, 'other');
}

/** The announced body length, or null when absent/chunked/unparseable. */
function announcedLength(res: IncomingMessage): number | null {
  if (res.headers['transfer-encoding'] !== undefined) return null;
  const raw = res.headers['content-length'];
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return null;
  const n = Number(raw.trim());
  return Number.isSafeInteger(n) ? n : null;
}

/** An answer's head, and what can be done with its body. */
interface Answer {
  status: number;
  message: string;
  location: string | undefined;
  /** A body this reader cannot take: ask Node's client instead. */
  encoded: boolean;
  body(out: Writable): Promise<FetchResult>;
  discard(): void;
}

/** An address literal never goes through `lookup`: checked before anything is sent. */
function refusedLiteral(url: URL, opts: FetchOptions): FetchError | null {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return net.isIP(host) && opts.destinations.refuses(host) ? classify(refusedDestination(), redact(url), peerOf(url)) : null;
}

/** A GET by the block reader (plain http into a BlockSink). */
async function plainRequest(url: URL, opts: FetchOptions, out: BlockSink): Promise<Answer> {
  const refused = refusedLiteral(url, opts);
  if (refused) throw refused;
  const get = new PlainGet(url, opts, redact(url), peerOf(url), out);
  const head = await get.head();
  return { ...head, body: () => get.body(), discard: () => get.discard() };
}

/** A GET by Node's client. */
async function nodeRequest(url: URL, opts: FetchOptions): Promise<Answer> {
  const res = await request(url, opts);
  return {
    status: res.statusCode ?? 0,
    message: res.statusMessage ?? '',
    location: res.headers.location,
    encoded: false,
    body: (out) => pump(res, out, announcedLength(res), opts, redact(url), peerOf(url)),
    discard: () => res.destroy(),
  };
}

/** Sends one GET and resolves with the response head; stall timer and abort cover connect + headers. */
function request(url: URL, opts: FetchOptions): Promise<IncomingMessage> {
  const where = redact(url);
  const peer = peerOf(url);
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = {
      method: 'GET',
      // A private, non-keep-alive agent: the socket is closed when the response ends or is destroyed,
      // so nothing lingers in a shared pool after we return.
      agent: false,
      lookup: opts.destinations.lookup(),
      headers: { 'user-agent': 'hyved', accept: '*/*', 'accept-encoding': 'identity' },
    };
    if (url.protocol === 'https:' && opts.ca) options.ca = [...tls.rootCertificates, opts.ca];
    let settled = false;
    const refused = refusedLiteral(url, opts);
    if (refused) {
      reject(refused);
      return;
    }
    const req = (url.protocol === 'https:' ? https : http).request(url, options);
    // Beside the checks before connecting: what the socket did connect to is what counts.
    req.on('socket', (socket) =>
      socket.once('connect', () => {
        if (socket.remoteAddress && opts.destinations.refuses(socket.remoteAddress)) req.destroy(refusedDestination());
      }),
    );
    const timer = setTimeout(() => {
      req.destroy(new FetchError(`no response from ${peer} for ${seconds(opts.stallTimeoutMs)}: transfer stalled`, 'stalled'));
    }, opts.stallTimeoutMs);
    const onAbort = () => req.destroy(abortedError(where));
    const done = () => {
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      done();
      resolve(res);
    });
    // Kept for the whole life of the request: after the response head, errors also reach `res`
    // (and are handled by pump); this listener only prevents them from being unhandled.
    req.on('error', (err) => {
      if (settled) return;
      done();
      reject(opts.signal.aborted ? abortedError(where) : classify(err, where, peer));
    });
    if (opts.signal.aborted) onAbort();
    req.end();
  });
}

export async function fetchHttp(url: URL, out: Writable, opts: FetchOptions): Promise<FetchResult> {
  let current = url;
  let redirects = 0;
  let encoded = false;
  for (;;) {
    const res = current.protocol === 'http:' && takesBlocks(out) && !encoded ? await plainRequest(current, opts, out) : await nodeRequest(current, opts);
    const status = res.status;
    const where = redact(current);
    if (REDIRECTS.has(status)) {
      const location = res.location;
      res.discard();
      if (!location) throw new FetchError(`HTTP ${status} redirect without a Location from ${where}`, 'protocol');
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new FetchError(`HTTP ${status} redirect to an invalid Location from ${where}`, 'protocol');
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new FetchError(`${where} redirects to ${redact(next)}: only http and https redirects are followed`, 'bad_url');
      }
      // Never forward credentials to another origin.
      if (next.origin !== current.origin) {
        next.username = '';
        next.password = '';
      }
      next.hash = '';
      redirects += 1;
      if (redirects > opts.maxRedirects) {
        throw new FetchError(
          `too many redirects (more than ${opts.maxRedirects}) starting at ${redact(url)}, last to ${redact(next)}`,
          'too_many_redirects',
        );
      }
      current = next;
      continue;
    }
    if (status !== 200) {
      res.discard();
      throw statusError(status, res.message, where);
    }
    if (res.encoded) {
      // Chunked (or otherwise encoded): asked again, of Node's client, which decodes it.
      res.discard();
      encoded = true;
      continue;
    }
    return res.body(out);
  }
}
