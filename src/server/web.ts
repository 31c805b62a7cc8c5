import { readFile, readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` leaves the bundled dashboard (tools/web-build.mjs): dist/web beside dist/src. */
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};

interface Asset { type: string; plain: Buffer; gzip?: Buffer; br?: Buffer }

/**
 * Only names listed in dist/web at first use are ever served, so no request path can reach a file
 * outside it. The files are a few hundred KB and fixed for the daemon's lifetime: held in memory.
 */
let assets: Promise<Map<string, Asset>> | null = null;

async function load(): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  const names = await readdir(WEB_DIR).catch(() => [] as string[]);
  const read = (n: string) => readFile(path.join(WEB_DIR, n)).catch(() => undefined);
  for (const name of names) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const plain = await read(name);
    if (plain) out.set(name, { type, plain, gzip: await read(`${name}.gz`), br: await read(`${name}.br`) });
  }
  return out;
}

/** The dashboard's own paths: the page and its assets; everything else stays with the API. */
export function isWebPath(method: string | undefined, pathname: string): boolean {
  return (method === 'GET' || method === 'HEAD') && (pathname === '/' || pathname === '/index.html' || pathname.startsWith('/assets/'));
}

/** Host header values a CSP source may name: host, IPv4, [IPv6], optional port. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i;

/**
 * Scripts only from the daemon's own files, connections only back to it ('self' plus its
 * ws/wss, which older browsers do not count as 'self'). Styles allow inline: xterm's renderer
 * writes its cell colours into a <style> element it creates; scripts stay strict.
 */
function policy(host: string | undefined): string {
  const ws = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${ws}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export async function handleWeb(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  assets ??= load();
  const files = await assets;
  const page = pathname === '/' || pathname === '/index.html';
  const name = page ? 'index.html' : pathname.slice('/assets/'.length);
  const asset = files.get(name);
  if (!asset || name === '' || (!page && name === 'index.html')) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(files.size ? 'not found\n' : 'dashboard not built: run npm run build\n');
    return;
  }
  const accept = String(req.headers['accept-encoding'] ?? '');
  const [body, encoding] =
    asset.br && /\bbr\b/.test(accept) ? [asset.br, 'br'] : asset.gzip && /\bgzip\b/.test(accept) ? [asset.gzip, 'gzip'] : [asset.plain, undefined];
  res.writeHead(200, {
    'Content-Type': asset.type,
    'Content-Length': body.length,
    // Asset names carry a content hash (esbuild's [hash]); the page that names them must be re-read.
    'Cache-Control': page ? 'no-cache' : 'public, max-age=31536000, immutable',
    Vary: 'Accept-Encoding',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...(page ? { 'Content-Security-Policy': policy(req.headers.host), 'X-Frame-Options': 'DENY' } : {}),
    ...(encoding ? { 'Content-Encoding': encoding } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
