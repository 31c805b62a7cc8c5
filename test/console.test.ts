import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { appendFile, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HyvedClient } from '../src/client/client.js';
import { QmpClient } from '../src/hypervisor/qemu/qmp.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { MARKER, guestVm, installGuest } from './helpers/guest.js';
import { attach, openSocket, ticket, type ConsoleViewer } from './helpers/console.js';
import { waitFor } from './helpers/wait.js';

// Small segments, so rotation happens within a test's output; the default viewer bound (a viewer that
// does read, on a loaded machine, can have a few reads of 256 KiB queued for a moment).
const CONSOLE = { segment_bytes: 65536, segments: 2, ring_bytes: 16384, viewer_buffer_bytes: 4 << 20, ticket_ttl_s: 3 };
// ash asks the terminal for the cursor position (ESC [6n) after each prompt.
const PROMPT = /[#$] (\x1b\[6n)?$/;

let stateDir: string;
let d: TestDaemon;
let c: HyvedClient;
let vmid: string;
const viewers: ConsoleViewer[] = [];

async function daemon(console: Record<string, number> = CONSOLE): Promise<void> {
  d = await startDaemon({ console }, stateDir);
  c = await d.client();
}

async function view(extra: Record<string, unknown> = {}, client = c): Promise<ConsoleViewer> {
  const v = await attach(d.url, client, vmid, extra);
  viewers.push(v);
  return v;
}

/** Runs `command` in the guest's shell through `v` (the writer) and resolves with what it printed up to the next prompt. */
async function run(v: ConsoleViewer, command: string, ms = 30_000): Promise<string> {
  const from = v.bytes().length;
  const tag = `END${Math.random().toString(36).slice(2, 8)}`;
  // The echo prints the tag joined, the typed line shows it split: only the output matches.
  v.type(`${command}; echo ${tag.slice(0, 3)}''${tag.slice(3)}\n`);
  await v.until(new RegExp(tag), ms, from);
  return v.bytes().subarray(from).toString('latin1');
}

/** The segment file QEMU writes now: the highest-numbered `serial-<n>.log`. */
async function newestSegment(dir: string): Promise<string> {
  const numbers = (await readdir(dir)).map((f) => /^serial-(\d+)\.log$/.exec(f)?.[1]).filter((n) => n !== undefined).map(Number);
  return `serial-${Math.max(...numbers)}.log`;
}

const log = (since?: number, limit?: number) =>
  c.call<{ offset: number; next: number; end: number; data: string }>('sysadm', 'console', { action: 'log', vmid, encoding: 'base64', ...(since === undefined ? {} : { since }), ...(limit ? { limit } : {}) });

/** The serial output [from, to) as the daemon keeps it. */
async function logBytes(from: number, to: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = from; at < to; ) {
    const r = await log(at, Math.min(1 << 20, to - at));
    assert.equal(r.offset, at, 'no bytes pruned in the range');
    const b = Buffer.from(r.data, 'base64');
    if (!b.length) break;
    parts.push(b);
    at += b.length;
  }
  return Buffer.concat(parts);
}

before(async () => {
  stateDir = await tempDir();
  await installGuest(stateDir);
  await daemon();
  vmid = (await c.call<{ vmid: string }>('sysadm', 'vm', guestVm('con1', { displays: [{ name: 'main', width: 800, height: 600 }] }))).vmid;
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
});

// A failed test must not leave its viewer holding the keyboard for the next.
afterEach(() => {
  for (const v of viewers.splice(0)) v.ws.terminate();
});

after(async () => {
  await c?.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true }).catch(() => {});
  c?.close();
  await d?.stop('SIGKILL');
});

test('a viewer attaching after boot sees the boot marker from scrollback; console log reads it without attaching', async () => {
  const v = await view({ write: true });
  assert.equal(v.hello.writer, true);
  assert.equal(typeof v.hello.offset, 'number');
  v.control({ type: 'replay', since: 0 });
  await v.until(new RegExp(MARKER), 90_000);
  const r = await c.call<{ offset: number; data: string; end: number; next: number }>('sysadm', 'console', { action: 'log', vmid, since: 0, limit: 1 << 20 });
  assert.equal(r.offset, 0);
  assert.match(r.data, new RegExp(MARKER));
  assert.ok(r.end >= r.next);
  await v.until(PROMPT, 30_000);
  v.ws.close();
});

test('typing reaches the guest shell; two viewers see the same bytes; the second writer is read-only until takeover', async () => {
  const a = await view({ write: true });
  const b = await view({ write: true });
  assert.equal(a.hello.writer, true);
  assert.equal(b.hello.writer, false);
  assert.equal((await b.notice('writer-changed')).writer, false);
  const start = Math.max(a.hello.offset as number, b.hello.offset as number);

  const out = await run(a, 'echo $((6*7))');
  assert.match(out, /^42\r?$/m);

  // b's keystrokes are dropped, not queued for later.
  b.type('echo DROPPED$((1+1))\n');
  await sleep(500);
  await run(a, 'true');
  assert.doesNotMatch(a.text(), /DROPPED2/);

  // Both saw the same stream from the later attach on.
  await b.until(/END/, 10_000, b.bytes().length > 0 ? 0 : 0);
  const endA = (a.hello.offset as number) + a.bytes().length;
  await waitFor(() => (b.hello.offset as number) + b.bytes().length >= endA || undefined, 'b to catch up', 10_000);
  const sliceOf = (v: ConsoleViewer) => v.bytes().subarray(start - (v.hello.offset as number), endA - (v.hello.offset as number));
  assert.ok(sliceOf(a).length > 0);
  assert.deepEqual(sliceOf(b), sliceOf(a));

  b.control({ type: 'takeover' });
  assert.equal((await a.notice('writer-changed', 10_000)) && a.notices.filter((n) => n.type === 'writer-changed').at(-1)!.writer, false);
  await waitFor(() => b.notices.some((n) => n.type === 'writer-changed' && n.writer === true) || undefined, 'b told it writes', 5000);
  assert.match(await run(b, 'echo $((7*6+1))'), /^43\r?$/m);
  a.ws.close();
  b.ws.close();
});

test('the writer\'s terminal size reaches the guest through its agent; a viewer without the keyboard cannot set it', async () => {
  const w = await view({ write: true });
  const ro = await view();
  // The agent comes up a few seconds after the shell.
  await waitFor(async () => (await c.call<{ agent: boolean }>('sysadm', 'vm', { action: 'info', vmid })).agent || undefined, 'the guest agent', 120_000, 500);
  w.control({ type: 'resize', cols: 97, rows: 31 });
  const applied = await w.notice('resize', 30_000);
  assert.equal(applied.applied, true, JSON.stringify(applied));
  assert.match(await run(w, 'stty size'), /^31 97\r?$/m);
  ro.control({ type: 'resize', cols: 10, rows: 10 });
  assert.equal((await ro.notice('resize')).applied, false);
});

test('a viewer that reconnects with since gets exactly the bytes it missed, none twice', async () => {
  const w = await view({ write: true });
  const first = await view();
  await run(w, 'echo one');
  const seen = (first.hello.offset as number) + first.bytes().length;
  first.ws.close();
  await first.closed;
  await run(w, 'for i in 1 2 3 4 5; do echo missed-$i; done');
  const again = await view();
  again.control({ type: 'replay', since: seen });
  // Live bytes can come before the replay starts: the stream from `since` begins after its notice.
  const cut = again.bytesBefore(await again.notice('replay'));
  await run(w, 'echo after');
  const end = (w.hello.offset as number) + w.bytes().length;
  await waitFor(() => seen + again.received() - cut >= end || undefined, () => `the replaying viewer to catch up (at ${seen + again.received() - cut} of ${end})`, 10_000);
  // The shell's prompt can follow the tag after run() returned: compare all the viewer holds.
  const got = Buffer.from(again.bytes().subarray(cut));
  const expected = await logBytes(seen, seen + got.length);
  assert.match(expected.toString('latin1'), /missed-5/);
  assert.deepEqual(got, expected, 'replayed + live bytes are the log from since on, in order, once');
  w.ws.close();
  again.ws.close();
});

test('the log rotates into bounded files and keeps offsets continuous', async () => {
  const w = await view({ write: true });
  const from = w.hello.offset as number;
  assert.match(await run(w, 'seq 1 30000', 240_000), /^30000\r?$/m);
  const dir = path.join(stateDir, 'vms', vmid, 'console');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.log'));
  assert.ok(files.length <= CONSOLE.segments, files.join(' '));
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  assert.ok(index.first_base > from, 'old output was pruned');
  // One rotation check's worth of slack: the switch follows the read that crossed the size.
  for (const f of files) assert.ok((await readFile(path.join(dir, f))).length < CONSOLE.segment_bytes * 2, `${f} bounded`);
  const r = await log(0, 16);
  assert.equal(r.offset, index.first_base, 'a read from 0 starts at the oldest kept byte');
  const kept = (await logBytes(index.first_base, (w.hello.offset as number) + w.bytes().length)).toString('latin1');
  // The oldest kept byte can be in the middle of a line: from the first whole one on.
  const lines = [...kept.slice(kept.indexOf('\n') + 1).matchAll(/^(\d+)\r?$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(lines, Array.from({ length: lines.length }, (_, i) => lines[0] + i), 'the kept lines are contiguous across files');
  assert.equal(lines.at(-1), 30000);
});

test('a viewer that stops reading is let go, its unsent bytes bounded; one that pauses through a burst gets every byte', async () => {
  // The guest's UART manages some 30 KB/s under TCG, less than the kernel's socket buffers hold;
  // so the bulk goes into the log file the way QEMU writes it, while the guest sits at its prompt.
  // Segments larger than the bulk (a daemon restart with another config): a rotation in the middle
  // would leave the rest of the test's write in a file the daemon has finished with.
  c.close();
  assert.equal(await d.stop(), 0);
  await daemon({ ...CONSOLE, segment_bytes: 64 << 20 });
  const slow = await view();
  const fast = await view();
  // Stop reading at the TCP level: the daemon's send queue for this viewer grows.
  (slow.ws as unknown as { _socket: net.Socket })._socket.pause();
  const dir = path.join(stateDir, 'vms', vmid, 'console');
  const newest = await newestSegment(dir);
  // More than loopback TCP buffers take in (some 4–8 MB here) and the bound together.
  const bulk = Buffer.alloc(24 << 20, 'hyved console fan-out\r\n');
  const start = fast.hello.offset as number;
  // The other viewer pauses too, for less than the stall time: the burst waits for it.
  const fastSocket = (fast.ws as unknown as { _socket: net.Socket })._socket;
  fastSocket.pause();
  await appendFile(path.join(dir, newest), bulk);
  await sleep(1500);
  fastSocket.resume();
  await waitFor(() => fast.received() >= bulk.length || undefined, () => `the fast viewer to get the bulk (it has ${fast.received()} bytes)`, 60_000);
  await waitFor(() => /console viewer \S+ dropped: it took in nothing/.test(d.output()) || undefined, 'the daemon to let the stalled viewer go', 30_000);
  // Cut, not closed: a close frame would wait behind the data it does not read. Reading again, it
  // finds the connection gone before the bulk's end.
  (slow.ws as unknown as { _socket: net.Socket })._socket.resume();
  const closed = await Promise.race([slow.closed, sleep(30_000).then(() => null)]);
  assert.ok(closed, 'slow viewer dropped');
  assert.equal(closed!.code, 1006);
  assert.ok(slow.bytes().length < fast.bytes().length, `the slow viewer got ${slow.bytes().length} of ${fast.bytes().length} bytes`);
  assert.deepEqual(fast.bytes().subarray(-bulk.length), bulk);
  assert.deepEqual(fast.bytes(), await logBytes(start, start + fast.bytes().length), 'in order, nothing lost or repeated');
});

test('a replay asked for while the viewer is behind a burst restarts its stream once: every byte, in order, none twice', async () => {
  // The daemon of the test before: segments larger than the burst.
  const v = await view();
  const socket = (v.ws as unknown as { _socket: net.Socket })._socket;
  socket.pause();
  const dir = path.join(stateDir, 'vms', vmid, 'console');
  const newest = await newestSegment(dir);
  const start = v.hello.offset as number;
  const bulk = Buffer.alloc(12 << 20, 'replayed while behind\r\n');
  await appendFile(path.join(dir, newest), bulk);
  // The daemon has read it all, and is sending it to this viewer as it drains (it does not).
  await waitFor(async () => (await log(start, 1)).end >= start + bulk.length || undefined, 'the daemon to read the burst', 30_000, 50);
  v.control({ type: 'replay', since: start });
  socket.resume();
  const cut = v.bytesBefore(await v.notice('replay', 30_000));
  await waitFor(() => v.received() - cut >= bulk.length || undefined, () => `the replay to arrive (${v.received() - cut} of ${bulk.length})`, 60_000);
  const got = Buffer.from(v.bytes().subarray(cut));
  assert.deepEqual(got.subarray(0, bulk.length), bulk);
  assert.deepEqual(got, await logBytes(start, start + got.length), 'the stream after the notice is the log from since on');
});

test('tickets: reused and expired ones are refused; permissions are checked', async () => {
  const t = await ticket(c, vmid);
  const ws = await openSocket(d.url, t.url);
  ws.close();
  await assert.rejects(openSocket(d.url, t.url), /403/);
  const late = await ticket(c, vmid);
  await sleep(CONSOLE.ticket_ttl_s * 1000 + 200);
  await assert.rejects(openSocket(d.url, late.url), /403/);
  await assert.rejects(openSocket(d.url, '/console/serial?ticket=nonsense'), /403/);
  // A foreign web page may not open one either (the Origin rule).
  const foreign = await ticket(c, vmid);
  await assert.rejects(openSocket(d.url, foreign.url, { Origin: 'https://evil.example' }), /403/);

  for (const [name, perms] of [['viewer', ['--perm', 'vm.view', '--perm', 'vm.console.view']], ['nobody', ['--perm', 'vm.view']]] as const) {
    const r = await runHyved(['user', 'add', name, ...perms, '--password-stdin', '--config', d.configFile], `${name}-pass-1\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const code = (p: Promise<unknown>) => p.then(() => 0, (e: { code: number }) => e.code);
  const viewer = await d.client('viewer', 'viewer-pass-1');
  const nobody = await d.client('nobody', 'nobody-pass-1');
  assert.equal(await code(ticket(nobody, vmid)), 403);
  assert.equal(await code(nobody.call('sysadm', 'console', { action: 'log', vmid })), 403);
  assert.equal(await code(ticket(viewer, vmid, { write: true })), 403);
  assert.equal(await code(ticket(viewer, vmid, { kind: 'vnc' })), 403);
  const ro = await attach(d.url, viewer, vmid);
  viewers.push(ro);
  assert.equal(ro.hello.writer, false);
  // Signing out ends the consoles its session opened.
  await viewer.call('rpc', 'auth_clear', {}).catch(() => {});
  const closed = await Promise.race([ro.closed, sleep(5000).then(() => null)]);
  assert.equal(closed?.code, 4001);
  viewer.close();
  nobody.close();
});

test('VNC: an RFB handshake completes through the bridge; a second client needs takeover', async () => {
  const t = await ticket(c, vmid, { kind: 'vnc' });
  const received: Buffer[] = [];
  const got = () => Buffer.concat(received);
  const ws = await openSocket(d.url, t.url, {}, (m) => received.push(m as Buffer));
  const want = async (n: number) => waitFor(() => (got().length >= n ? got() : undefined), `${n} RFB bytes`, 10_000);
  assert.equal((await want(12)).subarray(0, 12).toString(), 'RFB 003.008\n');
  ws.send(Buffer.from('RFB 003.008\n'));
  const types = await want(13);
  const count = types[12];
  assert.ok(count > 0 && [...types.subarray(13, 13 + count)].includes(1), 'security type None offered');
  received.length = 0;
  ws.send(Buffer.from([1]));
  assert.equal((await want(4)).readUInt32BE(0), 0, 'security result OK');
  received.length = 0;
  ws.send(Buffer.from([1])); // ClientInit, shared
  // ServerInit: the frame buffer's size (the VGA text mode until the guest sets one), pixel format, name.
  const init = await want(24);
  assert.ok(init.readUInt16BE(0) >= 320 && init.readUInt16BE(2) >= 200, `frame buffer ${init.readUInt16BE(0)}x${init.readUInt16BE(2)}`);
  const nameLength = init.readUInt32BE(20);
  assert.match((await want(24 + nameLength)).subarray(24, 24 + nameLength).toString(), /con1/);

  const second = await openSocket(d.url, (await ticket(c, vmid, { kind: 'vnc' })).url);
  const refused = await new Promise<number>((r) => second.once('close', (code) => r(code)));
  assert.equal(refused, 4409);
  const third = await openSocket(d.url, (await ticket(c, vmid, { kind: 'vnc', takeover: true })).url);
  const kicked = await new Promise<number>((r) => ws.once('close', (code) => r(code)));
  assert.equal(kicked, 4009);
  third.close();
});

test('a daemon SIGKILL and restart while the guest prints loses no byte and keeps offsets continuous', async () => {
  let w = await view({ write: true });
  const before = w.hello.offset as number;
  w.type('i=0; while [ $i -lt 400 ]; do echo tick-$i; i=$((i+1)); usleep 20000; done\n');
  await w.until(/tick-50/, 60_000);
  await d.stop('SIGKILL');
  c.close();
  await sleep(1500);
  await daemon();
  w = await view({ write: true });
  await w.until(/tick-399/, 120_000);
  const all = (await logBytes(before, (w.hello.offset as number) + w.bytes().length)).toString('latin1');
  const ticks = [...all.matchAll(/^tick-(\d+)\r?$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(ticks, Array.from({ length: 400 }, (_, i) => i), 'every line once, in order');
});

test('a VM started before console segments (one growing console.log) is moved onto them when adopted', async () => {
  await d.stop('SIGKILL');
  c.close();
  const vmDir = path.join(stateDir, 'vms', vmid);
  // Make the running QEMU what an earlier hyved left: its serial log in console.log, no segments.
  const qmp = await QmpClient.connect(path.join(vmDir, 'qmp.sock'));
  const legacy = path.join(vmDir, 'console.log');
  const backend = (sock: string) => ({ type: 'socket', data: { addr: { type: 'unix', data: { path: path.join(vmDir, sock) } }, server: true, wait: false, logfile: legacy, logappend: true } });
  // Through a side path: the chardev being replaced unlinks its socket path as it goes.
  await qmp.execute('chardev-change', { id: 'serial0', backend: backend('side.sock') });
  await qmp.execute('chardev-change', { id: 'serial0', backend: backend('console.sock') });
  qmp.close();
  await rm(path.join(vmDir, 'console'), { recursive: true });
  const sock = net.createConnection(path.join(vmDir, 'console.sock'));
  sock.write('echo LEGACY-$((40+2))\n');
  await waitFor(async () => (await readFile(legacy, 'latin1').catch(() => '')).includes('LEGACY-42') || undefined, 'output in console.log', 30_000, 100);
  sock.destroy();

  await daemon();
  assert.deepEqual((await readdir(vmDir)).filter((f) => f.startsWith('console')).sort(), ['console', 'console.sock']);
  const w = await view({ write: true });
  assert.match(await run(w, 'echo NEW-$((40+3))'), /^NEW-43\r?$/m);
  const all = Buffer.from((await log(0, 1 << 20)).data, 'base64').toString('latin1');
  assert.match(all, /LEGACY-42[\s\S]*NEW-43/, 'the old log is the start of the numbering, new output follows it');
  assert.equal(await readFile(legacy).then(() => 'exists', () => 'gone'), 'gone');
});

test('stopping the VM tells viewers vm-stopped; its log stays readable', async () => {
  const v = await view();
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });
  await v.notice('vm-stopped', 30_000);
  assert.equal((await v.closed).code, 1000);
  const r = await c.call<{ data: string }>('sysadm', 'console', { action: 'log', vmid, limit: 100000 });
  assert.match(r.data, /NEW-43/);
  assert.equal(await c.call('sysadm', 'console', { action: 'ticket', vmid, kind: 'serial' }).then(() => 0, (e: { code: number }) => e.code), 409);
});
