import { test, before, after } from 'node:test';
import { LOOPBACK, silentFtpLog } from './helpers/servers.js';
import { Destinations } from '../src/store/fetch/destinations.js';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { FtpSrv } from 'ftp-srv';
import { FetchError, checkUrl, fetchTo, nameFromUrl, type FetchErrorKind, type FetchOptions } from '../src/store/fetch/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileSink } from '../src/store/file-sink.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

let tmp: string;
let importDir: string;
let fullDir: string;
let fullMounted = false;
const big = randomBytes(5 * MiB);
const ftpData = randomBytes(3 * MiB);
const localData = randomBytes(2 * MiB);

let httpServer: http.Server;
let httpsServer: https.Server;
let ftpServer: FtpSrv;
let base: string; // http://127.0.0.1:PORT
let sbase: string; // https://127.0.0.1:PORT
let fbase: string; // ftp://127.0.0.1:PORT (host part only, no credentials)
let caCert: Buffer;
let refusedPort: number;
let rawServer: net.Server;
let rbase: string; // http://127.0.0.1:PORT of a server that writes its answers byte by byte
let outCounter = 0;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const listen = (s: net.Server) =>
  new Promise<number>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port));
  });
const closeServer = (s: net.Server) => new Promise<void>((resolve) => s.close(() => resolve()));

function handler(req: http.IncomingMessage, res: http.ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://x');
  switch (url.pathname) {
    case '/big.iso':
      res.writeHead(200, { 'content-length': big.length, 'content-type': 'application/octet-stream' });
      res.end(big);
      return;
    case '/chunked.iso': {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let off = 0;
      const step = () => {
        while (off < big.length) {
          const chunk = big.subarray(off, off + 100_000);
          off += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', step);
        }
        res.end();
      };
      step();
      return;
    }
    case '/redir.iso':
      res.writeHead(302, { location: `${base}/big.iso` });
      res.end();
      return;
    case '/a/b/rel.iso':
      res.writeHead(301, { location: '../../big.iso' });
      res.end();
      return;
    case '/tofile.iso':
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
      return;
    case '/loop':
      res.writeHead(307, { location: '/loop' });
      res.end();
      return;
    case '/stall.iso':
      res.writeHead(200, { 'content-length': big.length });
      res.write(big.subarray(0, big.length / 2)); // ... and then nothing, connection kept open
      return;
    case '/short.iso':
      res.writeHead(200, { 'content-length': 1000 });
      res.write(big.subarray(0, 400), () => setTimeout(() => res.socket?.destroy(), 50));
      return;
    case '/continue.iso':
      res.writeContinue();
      res.writeHead(200, { 'content-length': big.length });
      res.end(big);
      return;
    case '/auth.iso':
      if (req.headers.authorization !== `Basic ${Buffer.from('alice:s3 cr3t').toString('base64')}`) {
        res.writeHead(401);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': big.length });
      res.end(big);
      return;
    case '/slow.iso': {
      res.writeHead(200, { 'content-length': big.length });
      let off = 0;
      const t = setInterval(() => {
        res.write(big.subarray(off, off + 64 * 1024));
        off += 64 * 1024;
        if (off >= big.length) {
          clearInterval(t);
          res.end();
        }
      }, 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not here');
  }
}

/** Answers no HTTP library would write: each path's bytes as they are, then the connection is closed. */
const RAW: Record<string, () => Buffer> = {
  '/eof.iso': () => Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n'), big]),
  '/bad-status.iso': () => Buffer.from('HTTP/1.1 2OO OK\r\nContent-Length: 3\r\n\r\nabc'),
  '/two-lengths.iso': () => Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'),
  '/huge-head.iso': () => Buffer.from(`HTTP/1.1 200 OK\r\n${'X-Filler: 0123456789abcdef\r\n'.repeat(4000)}\r\n`),
  '/no-answer.iso': () => Buffer.alloc(0),
};

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'hyved-fetch-'));

  rawServer = net.createServer((socket) => {
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const target = /^GET (\S+) HTTP\/1\.1\r\n/.exec(head)?.[1] ?? '';
      socket.end(RAW[target]?.() ?? Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
    });
    socket.on('error', () => {});
  });
  rbase = `http://127.0.0.1:${await listen(rawServer)}`;

  httpServer = http.createServer(handler);
  base = `http://127.0.0.1:${await listen(httpServer)}`;

  const probe = net.createServer();
  refusedPort = await listen(probe);
  await closeServer(probe);

  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', path.join(tmp, 'key.pem'), '-out', path.join(tmp, 'cert.pem'), '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  caCert = await readFile(path.join(tmp, 'cert.pem'));
  httpsServer = https.createServer({ key: await readFile(path.join(tmp, 'key.pem')), cert: caCert }, handler);
  sbase = `https://127.0.0.1:${await listen(httpsServer)}`;

  const ftpRoot = path.join(tmp, 'ftproot');
  await mkdir(path.join(ftpRoot, 'pub'), { recursive: true });
  await writeFile(path.join(ftpRoot, 'pub', 'data.iso'), ftpData);
  const pasvMin = 40000 + Math.floor(Math.random() * 20000);
  ftpServer = new FtpSrv({
    url: 'ftp://127.0.0.1:0',
    pasv_url: '127.0.0.1',
    pasv_min: pasvMin,
    pasv_max: pasvMin + 500,
    anonymous: true,
    greeting: 'hyved test ftp',
    log: silentFtpLog,
  });
  ftpServer.on('login', ({ username, password }, resolve, reject) => {
    if (username === 'anonymous' || (username === 'alice' && password === 's3cr3t')) resolve({ root: ftpRoot });
    else reject(new Error('Authentication failed'));
  });
  await ftpServer.listen();
  const ftpListener = (ftpServer as unknown as { server: net.Server }).server;
  fbase = `127.0.0.1:${(ftpListener.address() as net.AddressInfo).port}`;

  importDir = path.join(tmp, 'import');
  await mkdir(path.join(importDir, 'sub'), { recursive: true });
  await writeFile(path.join(importDir, 'local.iso'), localData);
  await symlink('/etc/passwd', path.join(importDir, 'escape.iso'));
  await symlink('../local.iso', path.join(importDir, 'sub', 'link.iso'));

  fullDir = path.join(tmp, 'full');
  await mkdir(fullDir);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', fullDir]);
  fullMounted = true;
});

after(async () => {
  httpServer?.closeAllConnections();
  httpsServer?.closeAllConnections();
  await Promise.all([
    rawServer && closeServer(rawServer),
    httpServer && closeServer(httpServer),
    httpsServer && closeServer(httpsServer),
    ftpServer?.close(),
  ]);
  if (fullMounted) await run('umount', [fullDir]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Run {
  file: string;
  out: Writable;
  progress: Array<[number, number | null]>;
  opts: FetchOptions;
}

/** What the fetch writes into: a FileSink, as the daemon's downloads use (plain http goes through the block reader), or a plain WriteStream. */
type Sink = 'file-sink' | 'write-stream';

function prepare(over: Partial<FetchOptions> = {}, dir?: string, sink: Sink = 'file-sink'): Run {
  const file = path.join(dir ?? tmp, `out-${++outCounter}.iso`);
  const progress: Array<[number, number | null]> = [];
  const opts: FetchOptions = {
    signal: new AbortController().signal,
    onProgress: (r, t) => void progress.push([r, t]),
    stallTimeoutMs: 5000,
    maxRedirects: 5,
    importDirs: [importDir],
    destinations: new Destinations(LOOPBACK),
    ...over,
  };
  return { file, out: sink === 'file-sink' ? new FileSink(file, { flags: 'w', mode: 0o644 }) : createWriteStream(file), progress, opts };
}

async function expectOk(url: string, source: Buffer, expectTotal: boolean, over: Partial<FetchOptions> = {}, sink: Sink = 'file-sink') {
  const r = prepare(over, undefined, sink);
  const result = await fetchTo(new URL(url), r.out, r.opts);
  assert.equal(result.bytes, source.length);
  assert.equal(result.total, expectTotal ? source.length : null);
  assert.ok(r.out.writableFinished, 'out has finished when fetchTo resolves');
  assert.equal(sha(await readFile(r.file)), sha(source));
  assert.ok(r.progress.length >= 2, 'onProgress called');
  for (let i = 1; i < r.progress.length; i++) {
    assert.ok(r.progress[i]![0] >= r.progress[i - 1]![0], 'progress never goes backwards');
  }
  const last = r.progress[r.progress.length - 1]!;
  assert.equal(last[0], source.length);
  assert.equal(last[1], result.total);
  await rm(r.file);
  return result;
}

async function expectFail(
  url: string,
  kind: FetchErrorKind,
  message?: RegExp,
  over: Partial<FetchOptions> = {},
  dir?: string,
): Promise<FetchError> {
  const r = prepare(over, dir);
  const err = await fetchTo(new URL(url), r.out, r.opts).then(
    () => assert.fail(`expected ${url} to fail with ${kind}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof FetchError, `FetchError expected, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  if (message) assert.match(err.message, message);
  assert.ok(r.out.destroyed, 'out is destroyed on failure');
  await rm(r.file, { force: true });
  return err;
}

/** The server side sees every connection closed, i.e. the client left no socket open. */
async function noConnections(server: net.Server) {
  const deadline = Date.now() + 2000;
  for (;;) {
    const n = await new Promise<number>((resolve, reject) => server.getConnections((e, c) => (e ? reject(e) : resolve(c))));
    if (n === 0) return;
    if (Date.now() > deadline) assert.fail(`${n} connection(s) still open`);
    await sleep(20);
  }
}

test('nameFromUrl and checkUrl', () => {
  assert.equal(nameFromUrl(new URL('http://h/a/FreeBSD%2014.iso?x=1#y')), 'FreeBSD 14.iso');
  assert.equal(nameFromUrl(new URL('ftp://h/pub/x.iso')), 'x.iso');
  assert.equal(nameFromUrl(new URL('http://h/')), null);
  assert.equal(nameFromUrl(new URL('http://h/dir/')), null);
  assert.equal(nameFromUrl(new URL('file:///srv/iso/a.iso')), 'a.iso');
  for (const ok of ['http://h/x', 'https://h/x', 'ftp://u:p@h/x.iso', 'file:///x', 'file://localhost/x']) checkUrl(new URL(ok));
  for (const bad of ['gopher://h/x', 'data:text/plain,hi', 'file://other/x', 'ftp://h/a%0d%0aDELE%20b']) {
    assert.throws(() => checkUrl(new URL(bad)), (e: unknown) => e instanceof FetchError && e.kind === 'bad_url', bad);
  }
  // WHATWG URL parsing already refuses credentials in file: URLs; checkUrl re-checks as a defence.
  assert.throws(() => new URL('file://u:p@localhost/x'), TypeError);
});

test('http: 5 MiB with Content-Length, into a FileSink (block reader) and into a WriteStream (Node\'s client)', async () => {
  await expectOk(`${base}/big.iso`, big, true);
  await noConnections(httpServer);
  await expectOk(`${base}/big.iso`, big, true, {}, 'write-stream');
  await noConnections(httpServer);
});

test('http: a 100 Continue before the answer, a body that runs to the end of the connection, basic auth from the URL', async () => {
  await expectOk(`${base}/continue.iso`, big, true);
  await expectOk(`${rbase}/eof.iso`, big, false);
  await expectOk(`http://alice:s3%20cr3t@${base.slice('http://'.length)}/auth.iso`, big, true);
  await expectFail(`${base}/auth.iso`, 'forbidden', /^HTTP 401 Unauthorized from /);
  await noConnections(httpServer);
});

test('http: malformed answers are protocol errors naming what was wrong', async () => {
  await expectFail(`${rbase}/bad-status.iso`, 'protocol', /^invalid HTTP response from .*: bad status line 'HTTP\/1\.1 2OO OK'$/);
  await expectFail(`${rbase}/two-lengths.iso`, 'protocol', /bad Content-Length '3, 4'/);
  await expectFail(`${rbase}/huge-head.iso`, 'protocol', /response head larger than 65536 bytes/);
  await expectFail(`${rbase}/no-answer.iso`, 'protocol', /^connection closed by 127\.0\.0\.1:\d+ before a response to /);
});

test('http: a disk slower than the network: reading waits for the blocks being written, every byte lands in order', async () => {
  const r = prepare();
  const sink = r.out as FileSink;
  let writes = 0;
  const write = sink.writeBlock.bind(sink);
  // Each write takes 20 ms longer, so all four blocks are soon held by writes and the socket must wait.
  sink.writeBlock = async (block) => {
    writes += 1;
    await sleep(20);
    return write(block);
  };
  const result = await fetchTo(new URL(`${base}/big.iso`), sink, r.opts);
  assert.equal(result.bytes, big.length);
  assert.equal(sha(await readFile(r.file)), sha(big));
  assert.ok(writes >= 5, `the body came in ${writes} block writes`);
  await noConnections(httpServer);
});

test('http: chunked without length', async () => {
  await expectOk(`${base}/chunked.iso`, big, false);
});

test('http: absolute and relative redirects are followed', async () => {
  await expectOk(`${base}/redir.iso`, big, true);
  await expectOk(`${base}/a/b/rel.iso`, big, true);
  await expectFail(`${base}/redir.iso`, 'too_many_redirects', /too many redirects/, { maxRedirects: 0 });
  await expectFail(`${base}/tofile.iso`, 'bad_url', /only http and https redirects are followed/);
});

test('http: redirect loop => too_many_redirects', async () => {
  await expectFail(`${base}/loop`, 'too_many_redirects', /more than 5/);
  await noConnections(httpServer);
});

test('http: 404 => not_found', async () => {
  await expectFail(`${base}/nope.iso`, 'not_found', new RegExp(`^HTTP 404 Not Found from ${base}/nope\\.iso$`));
});

test('http: body stalling mid-way => stalled', async () => {
  const t0 = Date.now();
  await expectFail(`${base}/stall.iso`, 'stalled', /^no data for 0\.5 s: transfer stalled$/, { stallTimeoutMs: 500 });
  assert.ok(Date.now() - t0 < 3000);
  await noConnections(httpServer);
});

test('http: Content-Length larger than the body => size_mismatch', async () => {
  await expectFail(`${base}/short.iso`, 'size_mismatch', /^expected 1000 bytes, got 400/);
});

test('http: refused port', async () => {
  await expectFail(`http://127.0.0.1:${refusedPort}/x.iso`, 'refused', new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${refusedPort}: refused, unreachable, or not allowed `));
});

test('https: self-signed certificate is refused without ca, accepted with it', async () => {
  await expectFail(`${sbase}/big.iso`, 'tls', /^TLS: self-signed certificate/);
  await expectOk(`${sbase}/big.iso`, big, true, { ca: caCert });
  await noConnections(httpsServer);
});

test('ftp: anonymous and user/password downloads of 3 MiB', async () => {
  await expectOk(`ftp://${fbase}/pub/data.iso`, ftpData, true);
  await expectOk(`ftp://alice:s3cr3t@${fbase}/pub/data.iso`, ftpData, true);
  await expectOk(`ftp://${fbase}/%2Fpub/data.iso`, ftpData, true);
});

test('ftp: wrong password => forbidden, password redacted; missing file => not_found', async () => {
  const err = await expectFail(`ftp://alice:wr0ngpass@${fbase}/pub/data.iso`, 'forbidden', /login failed/);
  assert.doesNotMatch(err.message, /wr0ngpass/);
  assert.match(err.message, /alice:\*\*\*@/);
  await expectFail(`ftp://${fbase}/pub/missing.iso`, 'not_found', /missing\.iso not found/);
});

test('file: inside the import dir, through an inner symlink, outside, and escaping symlink', async () => {
  await expectOk(`file://${importDir}/local.iso`, localData, true);
  await expectOk(`file://${importDir}/sub/link.iso`, localData, true);
  await expectFail('file:///etc/passwd', 'forbidden', /^file:\/\/\/etc\/passwd is outside the import directories$/);
  await expectFail(`file://${importDir}/escape.iso`, 'forbidden', /is outside the import directories/);
  await expectFail(`file://${importDir}/none.iso`, 'not_found', /not found/);
  await expectFail('file:///etc/no-such-file', 'forbidden'); // no existence oracle outside
  await expectFail(`file://${importDir}/sub`, 'forbidden', /not a regular file/);
});

test('abort mid-transfer: http', async () => {
  const ac = new AbortController();
  let abortedAt = 0;
  const p = expectFail(`${base}/slow.iso`, 'aborted', /aborted/, {
    signal: ac.signal,
    onProgress: (r) => {
      if (r > 200_000 && !abortedAt) {
        abortedAt = Date.now();
        ac.abort();
      }
    },
  });
  await p;
  assert.ok(abortedAt > 0, 'transfer started before the abort');
  assert.ok(Date.now() - abortedAt < 500, 'aborted promptly');
  await noConnections(httpServer);
});

test('abort mid-transfer: ftp', async () => {
  const ac = new AbortController();
  let abortedAt = 0;
  // A slow destination keeps the transfer running long enough to abort it in the middle.
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(_chunk, _enc, cb) {
      setTimeout(cb, 20);
    },
  });
  const err = await fetchTo(new URL(`ftp://${fbase}/pub/data.iso`), out, {
    signal: ac.signal,
    onProgress: (r) => {
      if (r > 0 && !abortedAt) {
        abortedAt = Date.now();
        ac.abort();
      }
    },
    stallTimeoutMs: 5000,
    maxRedirects: 5,
    importDirs: [],
    destinations: new Destinations(LOOPBACK),
  }).then(
    () => assert.fail('expected abort'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof FetchError && err.kind === 'aborted', String(err));
  assert.ok(abortedAt > 0);
  assert.ok(Date.now() - abortedAt < 500, 'aborted promptly');
  assert.ok(out.destroyed);
});

test('disk full => disk_full (http, ftp, file)', async () => {
  await expectFail(`${base}/big.iso`, 'disk_full', /^disk full while writing$/, {}, fullDir);
  await noConnections(httpServer);
  await expectFail(`ftp://${fbase}/pub/data.iso`, 'disk_full', /^disk full while writing$/, {}, fullDir);
  await expectFail(`file://${importDir}/local.iso`, 'disk_full', /^disk full while writing$/, {}, fullDir);
});

test('an output stream failing before data flows is reported, not thrown as an unhandled error', async () => {
  const file = path.join(tmp, 'exists.iso');
  await writeFile(file, 'x');
  for (const out of [createWriteStream(file, { flags: 'wx' }), new FileSink(file, { flags: 'wx', mode: 0o644 })]) {
  const err = await fetchTo(new URL(`${base}/slow.iso`), out, {
    signal: new AbortController().signal,
    onProgress() {},
    stallTimeoutMs: 5000,
    maxRedirects: 5,
    importDirs: [],
    destinations: new Destinations(LOOPBACK),
  }).then(
    () => assert.fail('expected failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof FetchError && err.kind === 'other' && /^write error: EEXIST/.test(err.message), String(err));
  await noConnections(httpServer);
  }
});

test('already-aborted signal and unsupported scheme', async () => {
  const ac = new AbortController();
  ac.abort();
  await expectFail(`${base}/big.iso`, 'aborted', undefined, { signal: ac.signal });
  await expectFail('gopher://127.0.0.1/x', 'bad_url');
});
