/**
 * Keeps the fuzzer from making the daemon fetch anything real: every frame that would reach a
 * handler with a `url` arg is checked, on its final bytes, before it is sent. http(s)/ftp URLs
 * must name 127.0.0.1 or [::1] on a port verified closed; file:// URLs must not name devices or
 * kernel files; anything that does not parse as a URL is harmless (the daemon answers 400).
 */
import { isUtf8 } from 'node:buffer';
import net from 'node:net';

export const LOOPBACK_HOSTS = ['127.0.0.1', '[::1]'];

/** Ports refusing connections on both loopback addresses (checked, not assumed). */
export async function closedPorts(candidates = [1, 9, 2, 3, 5, 7]): Promise<number[]> {
  const refused = (host: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.setTimeout(1000);
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' || err.code === 'EADDRNOTAVAIL'));
    });
  const out: number[] = [];
  for (const p of candidates) if ((await refused('127.0.0.1', p)) && (await refused('::1', p))) out.push(p);
  return out;
}

const DANGEROUS_PATH = /(^|\/)(dev|proc|sys|run)(\/|$)|zero|random|fifo|stdin|\/fd\//i;

export function urlIsSafe(raw: string, ports: readonly number[]): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return true;
  }
  switch (url.protocol) {
    case 'http:':
    case 'https:':
    case 'ftp:':
    case 'ws:':
    case 'wss:':
      return LOOPBACK_HOSTS.includes(url.hostname) && url.port !== '' && ports.includes(Number(url.port));
    case 'file:': {
      let decoded = url.pathname;
      try {
        decoded = decodeURIComponent(url.pathname);
      } catch {
        // keep the raw form
      }
      return !DANGEROUS_PATH.test(url.pathname) && !DANGEROUS_PATH.test(decoded);
    }
    default:
      // data:, javascript:, gopher: ... are refused by the daemon's scheme check; none is fetched.
      return !/^(https?|ftp|file):$/.test(url.protocol);
  }
}

/** Whether the frame, as the daemon would parse it, carries only harmless URLs (in any "url" field). */
export function frameIsSafe(data: string | Buffer, binary: boolean, ports: readonly number[]): boolean {
  if (binary) return true;
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  // No "url" key can hide in a frame without those bytes (JSON escapes start with \u).
  if (!buf.includes('url') && !buf.includes('\\u')) return true;
  if (!isUtf8(buf)) return true;
  let msg: unknown;
  try {
    msg = JSON.parse(buf.toString('utf8'));
  } catch {
    return true;
  }
  // A "url" anywhere in the frame, not only where fetchiso reads it.
  let safe = true;
  const walk = (v: unknown, depth: number) => {
    if (!safe || depth > 64 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (k === 'url' && typeof x === 'string' && !urlIsSafe(x, ports)) safe = false;
      else walk(x, depth + 1);
    }
  };
  walk(msg, 0);
  return safe;
}
