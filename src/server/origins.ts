import os from 'node:os';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

function hostForUrl(h: string): string {
  return h.includes(':') && !h.startsWith('[') ? `[${h}]` : h;
}

/**
 * The origins a browser page served by this daemon would send: its own scheme, host names and
 * port. A wildcard listen address stands for every local address and the host name.
 */
export function ownOrigins(listenHost: string, port: number, tls: boolean): Set<string> {
  const scheme = tls ? 'https' : 'http';
  const hosts = new Set<string>();
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '';
  const loopback = /^127\./.test(listenHost) || listenHost === '::1' || listenHost === 'localhost';
  if (wildcard || loopback) LOOPBACK_NAMES.forEach((h) => hosts.add(h));
  if (!wildcard) hosts.add(hostForUrl(listenHost));
  else {
    hosts.add(os.hostname());
    for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) hosts.add(hostForUrl(a.address));
  }
  const defaultPort = tls ? 443 : 80;
  const out = new Set<string>();
  for (const h of hosts) {
    out.add(`${scheme}://${h.toLowerCase()}:${port}`);
    if (port === defaultPort) out.add(`${scheme}://${h.toLowerCase()}`);
  }
  return out;
}

/**
 * What a browser can send as Origin: a serialized origin (`scheme://host[:port]`) or `null`
 * (sandboxed frames, file: pages, some redirects). Anything else cannot come from a web page.
 */
const WEB_ORIGIN = /^(null|[a-z][a-z0-9+.-]*:\/\/.*)$/i;

/**
 * Cross-site WebSocket hijacking and DNS rebinding come from web pages, so a web Origin must be
 * the daemon's own or configured. An absent Origin (scripts, hyvectl) and a native client's
 * non-web one (the sysadm Qt client's `QWebSocket("sysadm-client")` sends `sysadm-client`) pass.
 */
export function originAllowed(origin: string | undefined, allowed: Set<string>): boolean {
  if (origin === undefined || !WEB_ORIGIN.test(origin)) return true;
  return allowed.has(origin.toLowerCase());
}
