import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import WebSocket from 'ws';
import { RawSocket } from './helpers/raw.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { INSPECT_ARGS, inspect, type Inspector } from './helpers/inspector.js';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * Limits on what a client that has not signed in (or does not read) can make the daemon hold:
 * cross-site HTTP requests, unread replies, big frames before sign-in, connection caps.
 */

const MIB = 1024 * 1024;
const basic = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');

/** The daemon's heap and buffers after a full GC: what it really holds. */
async function heldBytes(probe: Inspector): Promise<number> {
  await probe.collectGarbage();
  const m = await probe.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A WebSocket opened by hand, so that a test can send half a frame. */
async function rawUpgrade(url: string, localAddress?: string): Promise<net.Socket> {
  const u = new URL(url);
  const sock = net.connect({ host: u.hostname, port: Number(u.port), localAddress });
  await once(sock, 'connect');
  sock.write(
    `GET / HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) {
    const [chunk] = (await once(sock, 'data')) as [Buffer];
    head += chunk.toString('latin1');
  }
  assert.match(head, /^HTTP\/1\.1 101 /);
  return sock;
}

/** The header of a masked text frame announcing `length` bytes (mask 0: the payload goes as it is). */
function frameHeader(length: number): Buffer {
  const h = Buffer.alloc(14);
  h[0] = 0x81;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return h;
}

/** Resolves with every byte the peer sent once it closes (or the time runs out: null). */
function closedWithin(sock: net.Socket, ms: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => resolve(null), ms);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => {});
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

const CLOSE_1009 = Buffer.from([0x88, 0x02, 0x03, 0xf1]);

// --- 2. Cross-site requests on the HTTP paths -------------------------------------------------

test('HTTP requests with a foreign web Origin get 403 before sign-in and never count towards the blacklist', async () => {
  const d = await startDaemon({ blacklist: { auth_fail_limit: 2 } });
  try {
    for (let i = 0; i < 5; i++) {
      // What a page on another site can send without a preflight.
      const rest = await fetch(`${d.url}/sysadm/nic`, {
        method: 'PUT',
        headers: { Origin: 'https://evil.example', 'Content-Type': 'application/json', Authorization: basic('admin', `wrong-${i}`) },
        body: '{"action":"list"}',
      });
      assert.equal(rest.status, 403);
      assert.match(((await rest.json()) as { args: { message: string } }).args.message, /origin not allowed/);
      const velocity = await fetch(`${d.url}/v/vm/list`, {
        method: 'POST',
        headers: { Origin: 'null', 'Content-Type': 'text/plain' },
        body: JSON.stringify({ authkey: `bad-token-${i}`, gid: 'default' }),
      });
      assert.equal(velocity.status, 403);
      assert.match(((await velocity.json()) as { message: string }).message, /origin not allowed/);
    }
    // Ten refused requests and 127.0.0.1 is not blocked.
    const ok = await fetch(`${d.url}/sysadm/nic`, {
      method: 'PUT',
      headers: { Origin: d.url, 'Content-Type': 'application/json', Authorization: basic('admin', d.adminPassword) },
      body: '{"action":"list"}',
    });
    assert.equal(ok.status, 200, 'the daemon\'s own origin passes and the address is not blocked');
    const native = await fetch(`${d.url}/sysadm/nic`, {
      method: 'PUT',
      headers: { Origin: 'sysadm-client', 'Content-Type': 'application/json', Authorization: basic('admin', d.adminPassword) },
      body: '{"action":"list"}',
    });
    assert.equal(native.status, 200, 'a non-web Origin passes');
  } finally {
    await d.stop();
  }
});

test('HTTP bodies are JSON only as application/json (415 otherwise) and a 415 does not count towards the blacklist', async () => {
  const d = await startDaemon({ blacklist: { auth_fail_limit: 2 } });
  try {
    const put = (headers: Record<string, string>, body?: string) =>
      fetch(`${d.url}/sysadm/nic`, { method: 'PUT', headers: { Authorization: basic('admin', d.adminPassword), ...headers }, body });
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await put({ 'Content-Type': type }, '{"action":"list"}');
      assert.equal(r.status, 415, type);
      const args = ((await r.json()) as { args: { reason: string; message: string } }).args;
      assert.equal(args.reason, 'bad_request');
      assert.match(args.message, /application\/json/);
    }
    // fetch sends text/plain for a string body unless told otherwise; a Blob without a type sends none.
    assert.equal((await fetch(`${d.url}/sysadm/nic`, { method: 'PUT', headers: { Authorization: basic('admin', d.adminPassword) }, body: new Blob(['{"action":"list"}']) })).status, 415);
    assert.equal((await put({ 'Content-Type': 'Application/JSON; charset=utf-8' }, '{"action":"list"}')).status, 200);
    // No body and no type: the request reaches the action, which wants args.
    assert.equal((await put({})).status, 400);
    for (let i = 0; i < 4; i++) {
      const v = await fetch(`${d.url}/v/vm/list`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ authkey: `bad-${i}`, gid: 'default' }) });
      assert.equal(v.status, 415);
    }
    const c = await d.client();
    c.close();
  } finally {
    await d.stop();
  }
});

// --- 11. Unread error replies ---------------------------------------------------------------

test('a connection flooding bad frames without reading the error replies is closed at the unread-bytes bound', async (t) => {
  const d = await startDaemon({ events: { max_buffered_bytes: MIB } }, undefined, INSPECT_ARGS);
  const probe = await inspect(d);
  try {
    const before = await heldBytes(probe);
    const ws = new WebSocket(d.url.replace(/^http/, 'ws'), { perMessageDeflate: false });
    await once(ws, 'open');
    ws.on('error', () => {});
    // Never read: what the daemon answers stays in its buffers.
    ws.pause();
    const cutOff = /closing connection from \S+: more than 1048576 bytes unread/;
    const started = Date.now();
    while (!cutOff.test(d.output()) && Date.now() - started < 30_000) {
      if (ws.bufferedAmount < 256 * 1024) for (let i = 0; i < 2000; i++) ws.send('garbage');
      await sleep(5);
    }
    assert.match(d.output(), cutOff, 'the daemon kept buffering replies nobody reads');
    ws.resume();
    if (ws.readyState !== WebSocket.CLOSED) await once(ws, 'close');
    const after = await heldBytes(probe);
    t.diagnostic(`cut off after ${Date.now() - started} ms; daemon heap + buffers after GC: ${(before / MIB).toFixed(1)} -> ${(after / MIB).toFixed(1)} MiB`);
    assert.ok(after - before < 8 * MIB, `the daemon holds ${((after - before) / MIB).toFixed(1)} MiB more after the flood`);
    // Replies to requests that parse go through the same bound (and still arrive for a reader).
    const c = await d.client();
    assert.ok(await c.call('rpc', 'identify', {}));
    c.close();
  } finally {
    probe.close();
    await d.stop();
  }
});

// --- 12. Big frames before sign-in ----------------------------------------------------------

test('before sign-in a frame over pre_auth_frame_bytes closes the connection (1009) at its header; after sign-in max_frame_bytes applies', async () => {
  const d = await startDaemon({ connections: { pre_auth_frame_bytes: 16 * 1024 } });
  try {
    const anon = await RawSocket.open(d.url);
    anon.request('rpc', 'identify', 'x'.repeat(20_000)).catch(() => {});
    assert.equal((await anon.waitClosed(5000)).code, 1009);

    const sock = await RawSocket.open(d.url);
    const auth = await sock.request('rpc', 'auth', { username: 'admin', password: d.adminPassword });
    assert.equal(auth.name, 'response');
    const big = await sock.request('rpc', 'identify', 'x'.repeat(200_000));
    assert.equal(big.name, 'response', 'a signed-in connection sends frames up to max_frame_bytes');
    // Signed out, the small limit is back.
    assert.equal((await sock.request('rpc', 'auth_clear', {})).name, 'response');
    sock.request('rpc', 'identify', 'x'.repeat(20_000)).catch(() => {});
    assert.equal((await sock.waitClosed(5000)).code, 1009);
  } finally {
    await d.stop();
  }
});

test('100 unauthenticated connections announcing 4 MiB frames are closed at once and leave nothing held', async (t) => {
  const d = await startDaemon({}, undefined, INSPECT_ARGS);
  const probe = await inspect(d);
  try {
    const before = await heldBytes(probe);
    const socks = await Promise.all(Array.from({ length: 100 }, () => rawUpgrade(d.url)));
    const closes = socks.map((s) => closedWithin(s, 5000));
    // Header plus 1 MiB of the 4 MiB: a frame that would never finish.
    const part = Buffer.alloc(MIB, 0x20);
    for (const s of socks) {
      s.write(frameHeader(4 * MIB));
      s.write(part);
    }
    const seen = await Promise.all(closes);
    const open = seen.filter((b) => b === null).length;
    assert.equal(open, 0, `${open} of 100 connections still open 5 s after announcing a 4 MiB frame`);
    for (const b of seen) assert.ok(b!.includes(CLOSE_1009), 'closed with 1009');
    const after = await heldBytes(probe);
    t.diagnostic(`daemon heap + buffers after GC: ${(before / MIB).toFixed(1)} -> ${(after / MIB).toFixed(1)} MiB`);
    assert.ok(after - before < 16 * MIB, `the daemon holds ${((after - before) / MIB).toFixed(1)} MiB more`);
  } finally {
    probe.close();
    await d.stop();
  }
});

// --- 13. Connection caps, sign-in timeout, file headroom ------------------------------------

test('a WebSocket that does not sign in within sign_in_timeout_s is closed (4001); a signed-in one stays', async () => {
  const d = await startDaemon({ connections: { sign_in_timeout_s: 1 } });
  try {
    const anon = await RawSocket.open(d.url);
    const signedIn = await RawSocket.open(d.url);
    assert.equal((await signedIn.request('rpc', 'auth', { username: 'admin', password: d.adminPassword })).name, 'response');
    const closed = await anon.waitClosed(5000);
    assert.equal(closed.code, 4001);
    assert.equal(signedIn.closed, null);
    assert.equal((await signedIn.request('rpc', 'identify', {})).name, 'response');
    signedIn.close();
  } finally {
    await d.stop();
  }
});

async function tcp(d: TestDaemon, localAddress: string): Promise<{ sock: net.Socket; refused: Promise<boolean> }> {
  const u = new URL(d.url);
  const sock = net.connect({ host: u.hostname, port: Number(u.port), localAddress });
  sock.on('error', () => {});
  await once(sock, 'connect');
  return { sock, refused: closedWithin(sock, 1000).then((b) => b !== null) };
}

test('connections are capped per address and overall; a closed one frees its place', async () => {
  const d = await startDaemon({ connections: { per_address: 3, max: 5 } });
  try {
    const a = await Promise.all([1, 2, 3, 4].map(() => tcp(d, '127.0.0.1')));
    assert.deepEqual(await Promise.all(a.map((c) => c.refused)), [false, false, false, true], 'the 4th from one address is refused');
    const b = await Promise.all([1, 2, 3].map(() => tcp(d, '127.0.0.2')));
    assert.deepEqual(await Promise.all(b.map((c) => c.refused)), [false, false, true], 'the 6th overall is refused');
    a[0].sock.destroy();
    await sleep(200);
    const again = await tcp(d, '127.0.0.1');
    assert.equal(await again.refused, false, 'a place freed by a close is taken again');
    for (const c of [...a, ...b, again]) c.sock.destroy();
    await sleep(200);
    const c = await d.client();
    c.close();
    assert.match(d.output(), /connections open from 127\.0\.0\.1 \(connections\.per_address\), refused another/);
  } finally {
    await d.stop();
  }
});

test('under a low file limit the connection cap keeps files for the daemon: vm create still spawns qemu-img', async () => {
  // Lowers the daemon's own limit before it starts (prlimit, util-linux).
  const lowLimit = ['--import', 'data:text/javascript,import{execFileSync}from"node:child_process";execFileSync("prlimit",["--pid",String(process.pid),"--nofile=128:128"])'];
  const d = await startDaemon({ connections: { per_address: 1000 } }, undefined, lowLimit);
  try {
    assert.match(d.output(), /connections\.max 1024 lowered to 64: half the open-file limit \(128\)/);
    const admin = await d.client();
    const held: net.Socket[] = [];
    for (let i = 0; i < 150; i++) {
      const { sock } = await tcp(d, `127.0.1.${(i % 250) + 1}`);
      held.push(sock);
    }
    await sleep(300);
    const r = await admin.call<{ vmid: string }>('sysadm', 'vm', {
      action: 'create', name: 'fdcheck', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64, discs: [{ label: 'disk0', size_mib: 16 }],
    });
    assert.ok(r.vmid);
    for (const s of held) s.destroy();
    admin.close();
  } finally {
    await d.stop();
  }
});
