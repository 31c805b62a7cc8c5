import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FtpSrv } from 'ftp-srv';

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * The test servers listen on loopback, which fetchiso refuses unless allowed: every daemon that
 * fetches from them gets `iso: { allow_private: LOOPBACK }`.
 */
export const LOOPBACK = ['127.0.0.0/8', '::1'];

export interface IsoServer {
  url: string;
  body: Buffer;
  /** Requests to /slow.iso currently streaming. */
  slowActive(): number;
  close(): Promise<void>;
}

/**
 * A loopback HTTP server with the cases a download must handle: a sized body, a chunked one,
 * redirects, a 404, a body that stalls half-way, and a slow trickle for cancel/crash tests.
 */
export async function startIsoServer(size = 3 * 1024 * 1024): Promise<IsoServer> {
  const body = randomBytes(size);
  let slow = 0;
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const p = req.url ?? '/';
    if (p === '/big.iso') {
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    } else if (p === '/chunked.iso') {
      res.writeHead(200);
      for (let i = 0; i < body.length; i += 65536) res.write(body.subarray(i, i + 65536));
      res.end();
    } else if (p === '/redirect.iso') {
      res.writeHead(302, { Location: '/big.iso' }).end();
    } else if (p === '/stall.iso') {
      res.writeHead(200, { 'Content-Length': body.length });
      res.write(body.subarray(0, body.length / 2));
    } else if (p === '/slow.iso') {
      slow++;
      res.writeHead(200, { 'Content-Length': 64 * 1024 * 1000 });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(Buffer.alloc(64 * 1024, 7));
        if (++sent === 1000) {
          clearInterval(timer);
          res.end();
        }
      }, 50);
      res.on('close', () => {
        clearInterval(timer);
        slow--;
      });
    } else {
      res.writeHead(404).end('not here');
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    body,
    slowActive: () => slow,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** ftp-srv logs through bunyan to stdout by default; tests keep it quiet. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const silentFtpLog: any = {
  child: () => silentFtpLog,
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
};

/** A real FTP server (ftp-srv) serving `files` anonymously from a temp root. */
export async function startFtpServer(root: string, files: Record<string, Buffer>): Promise<{ url: string; close(): Promise<void> }> {
  await mkdir(root, { recursive: true });
  for (const [name, data] of Object.entries(files)) await writeFile(path.join(root, name), data);
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const ftp = new FtpSrv({ url: `ftp://127.0.0.1:${port}`, pasv_url: '127.0.0.1', pasv_min: 40000, pasv_max: 40100, anonymous: true, greeting: 'hyved test', log: silentFtpLog } as never);
  ftp.on('login', (_data: unknown, resolve: (o: { root: string }) => void) => resolve({ root }));
  await ftp.listen();
  return { url: `ftp://127.0.0.1:${port}`, close: () => ftp.close() };
}
