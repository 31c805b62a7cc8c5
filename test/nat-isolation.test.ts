import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HyvedClient, CallError } from '../src/client/client.js';
import { openNatLinks, socketPair } from '../src/hypervisor/qemu/nat-link.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { MARKER, guestVm, installGuest, readConsoleUntil } from './helpers/guest.js';
import { record, synFrame } from './helpers/frames.js';
import { waitFor } from './helpers/wait.js';
import { attach, type ConsoleViewer } from './helpers/console.js';

/** A TCP service on the host that answers one secret line and counts who connected. */
class HostService {
  readonly secret = `SECRET-${randomBytes(6).toString('hex')}`;
  connections = 0;
  private readonly server: net.Server;
  port = 0;
  constructor(readonly host: string) {
    this.server = net.createServer((c) => {
      this.connections++;
      c.on('error', () => {});
      c.end(`${this.secret}\n`);
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, this.host, resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  close(): void {
    this.server.close();
  }
}

/** A non-loopback IPv4 address of this host: where outbound NAT can be shown without the internet. */
function hostAddress(): string {
  const a = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
  if (!a) throw new Error('this host has no non-loopback IPv4 address to show outbound NAT with');
  return a.address;
}

/** Pids whose command line contains `text`: the network processes of a VM name its vmid or directory. */
async function pidsWith(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    const cmd = (await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    if (cmd.includes(text) && !/^\d+ \(.*\) Z/.test(stat)) out.push(Number(p));
  }
  return out;
}

/** The guest's serial console (a console viewer holding the keyboard) as a shell: types a command and returns what it printed. */
class GuestShell {
  private n = 0;
  private constructor(private readonly viewer: ConsoleViewer) {}

  static async open(vmid: string): Promise<GuestShell> {
    const viewer = await attach(d.url, c, vmid, { write: true });
    viewer.control({ type: 'replay', since: 0 });
    await viewer.until(new RegExp(MARKER), 90_000);
    return new GuestShell(viewer);
  }

  async run(cmd: string, ms = 90_000): Promise<string> {
    const tag = `DONE${++this.n}`;
    const from = this.viewer.bytes().length;
    // Quoted apart, so the echo of the typed line never matches: only the output does.
    // The blank echo ends output that has no newline of its own (wget's body).
    this.viewer.type(`${cmd}; echo; echo "${tag.slice(0, 2)}""${tag.slice(2)}"\n`);
    await this.viewer.until(new RegExp(`^${tag}\\r?$`, 'm'), ms, from);
    return this.viewer.text().slice(from);
  }

  close(): void {
    this.viewer.ws.terminate();
  }
}

/** What the guest gets from host:port over TCP (nothing when it cannot connect). */
const probe = (shell: GuestShell, host: string, port: number) => shell.run(`timeout 5 nc ${host} ${port} </dev/null`);

/**
 * The guest's DHCP client configures eth0; both kinds of NAT nic hand out QEMU slirp's layout
 * (10.0.2.15/24 behind 10.0.2.2), which the probes below rely on.
 */
const NET_UP = 'n=0; while ! ip route | grep -q "default via 10.0.2.2" && [ $n -lt 300 ]; do usleep 100000; n=$((n+1)); done; ip -4 addr show eth0; ip route';

/**
 * A root guest can send to any address, whatever the routing table: let 127.0.0.0/8 leave by
 * eth0 (route_localnet, and the loopback routes taken out of the local table).
 */
const ROUTE_LOOPBACK_OUT =
  'sysctl -w net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.eth0.route_localnet=1; ip route del local 127.0.0.1 table local; ' +
  'ip route del local 127.0.0.0/8 table local; ip route add 127.0.0.1/32 via 10.0.2.2 dev eth0; ip route get 127.0.0.1';

let d: TestDaemon;
let c: HyvedClient;
let loopback: HostService;
let loopback6: HostService;
let outside: HostService;
let hyvedPort: number;
let healthBody: string;
const shells: GuestShell[] = [];
const created: string[] = [];

before(async () => {
  const stateDir = await tempDir();
  await installGuest(stateDir);
  d = await startDaemon({ vm: { stop_timeout_s: 20 }, nics: { lan: { interface: 'lo' } } }, stateDir);
  c = await d.client();
  loopback = await new HostService('127.0.0.1').listen();
  loopback6 = await new HostService('::1').listen();
  outside = await new HostService(hostAddress()).listen();
  const url = new URL(d.url);
  hyvedPort = Number(url.port);
  healthBody = await (await fetch(`http://127.0.0.1:${hyvedPort}/healthz`)).text();
});
after(async () => {
  shells.forEach((s) => s.close());
  for (const vmid of created) await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true }).catch(() => {});
  c?.close();
  await d?.stop();
  loopback?.close();
  loopback6?.close();
  outside?.close();
});

const vmDir = (vmid: string) => path.join(d.stateDir, 'vms', vmid);

async function bootNatGuest(name: string, nic: Record<string, unknown>): Promise<{ vmid: string; shell: GuestShell }> {
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', guestVm(name, { nics: [{ type: 'NAT', ...nic }] }));
  created.push(vmid);
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  const shell = await GuestShell.open(vmid);
  shells.push(shell);
  const net = await shell.run(NET_UP);
  assert.match(net, /inet 10\.0\.2\.15\/24/);
  assert.match(net, /default via 10\.0\.2\.2 dev eth0/);
  return { vmid, shell };
}

test('a NAT nic by default: the host loopback (hyved included) is out of reach at every address, outbound NAT works, nothing outlives the VM', async () => {
  const { vmid, shell } = await bootNatGuest('isolated', {});
  const info = await c.call<{ nics: unknown[] }>('sysadm', 'vm', { action: 'info', vmid });
  assert.deepEqual(info.nics.map((n) => ({ ...(n as object), mac: undefined })), [{ type: 'NAT', host_loopback: false, mac: undefined }]);

  // Outbound NAT first: it shows the nic works, so the refusals below are refusals.
  assert.match(await probe(shell, outside.host, outside.port), new RegExp(outside.secret));
  assert.equal(outside.connections, 1);

  // slirp's host alias, its DNS alias, the host's own address, the IPv6 gateway passt advertises
  // (the host's link-local address); and hyved itself. In parallel: each waits out its timeout.
  const tries = ['10.0.2.2', '10.0.2.3', outside.host].map((h) => `(timeout 5 nc ${h} ${loopback.port} </dev/null) &`);
  const gw6 = `(timeout 5 nc $(ip -6 route | awk '/^default/ { print $3; exit }')%eth0 ${loopback6.port} </dev/null) &`;
  const out = await shell.run(`${tries.join(' ')} ${gw6} (timeout 5 wget -q -O- http://10.0.2.2:${hyvedPort}/healthz) & wait`);
  assert.doesNotMatch(out, new RegExp(loopback.secret));
  assert.doesNotMatch(out, new RegExp(loopback6.secret));
  assert.doesNotMatch(out, /"status"/);
  // Routed out by hand, 127.0.0.1 reaches passt as a destination: the frame guard drops it.
  assert.match(await shell.run(ROUTE_LOOPBACK_OUT), /127\.0\.0\.1 via 10\.0\.2\.2 dev eth0/);
  assert.doesNotMatch(await probe(shell, '127.0.0.1', loopback.port), new RegExp(loopback.secret));
  assert.equal(loopback.connections, 0, 'a guest connection reached a host service bound to 127.0.0.1');
  assert.equal(loopback6.connections, 0, 'a guest connection reached a host service bound to ::1');

  // The network processes: one passt and one guard, gone with the VM.
  assert.equal((await pidsWith(`hyved-nat-${vmid}-0`)).length, 1);
  assert.equal((await pidsWith(path.join(vmDir(vmid), 'passt-0.log'))).length, 1);
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });
  await waitFor(async () => (await pidsWith(vmid)).length === 0, 'the VM\'s QEMU, passt and guard to exit', 15_000, 100);
});

test('host_loopback: true is QEMU\'s slirp: the guest reaches the host\'s 127.0.0.1 and hyved at 10.0.2.2', async () => {
  const before = loopback.connections;
  const { vmid, shell } = await bootNatGuest('unsafe', { host_loopback: true });
  assert.match(await probe(shell, '10.0.2.2', loopback.port), new RegExp(loopback.secret));
  assert.equal(loopback.connections, before + 1);
  assert.match(await shell.run(`timeout 5 wget -q -O- http://10.0.2.2:${hyvedPort}/healthz`), new RegExp(healthBody.replace(/[{}"[\].]/g, '\\$&')));
  assert.equal((await pidsWith(`hyved-nat-${vmid}`)).length, 0, 'no guard for a slirp nic');
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });
});

test('the network survives a daemon restart with its VM, and a restarted daemon stops it cleanly', async () => {
  const { vmid } = await bootNatGuest('survivor', {});
  const netPids = [...(await pidsWith(`hyved-nat-${vmid}-0`)), ...(await pidsWith(path.join(vmDir(vmid), 'passt-0.log')))];
  assert.equal(netPids.length, 2);
  c.close();
  await d.stop();
  d = await startDaemon({ vm: { stop_timeout_s: 20 }, nics: { lan: { interface: 'lo' } } }, d.stateDir);
  c = await d.client();
  const info = await c.call<{ state: string }>('sysadm', 'vm', { action: 'info', vmid });
  assert.equal(info.state, 'RUNNING');
  // The daemon's restart closed the console viewers: a new one, on the new daemon.
  const shell = await GuestShell.open(vmid);
  shells.push(shell);
  const seen = outside.connections;
  assert.match(await probe(shell, outside.host, outside.port), new RegExp(outside.secret));
  assert.equal(outside.connections, seen + 1);
  assert.deepEqual([...(await pidsWith(`hyved-nat-${vmid}-0`)), ...(await pidsWith(path.join(vmDir(vmid), 'passt-0.log')))], netPids);
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });
  await waitFor(async () => (await pidsWith(vmid)).length === 0, 'the VM\'s QEMU, passt and guard to exit', 15_000, 100);
});

/**
 * Runs `body` against a daemon of its own, with `passt` as its passt program and the test guest
 * installed: a NAT VM made there fails to start, and `body` gets the VM's state dir, vmid and error.
 */
async function failedStart(passt: string, body: (b: HyvedClient, stateDir: string, vmid: string, err: CallError) => Promise<void>): Promise<void> {
  const stateDir = await tempDir();
  await installGuest(stateDir);
  const other = await startDaemon({ qemu: { passt } }, stateDir);
  const b = await other.client();
  try {
    const { vmid } = await b.call<{ vmid: string }>('sysadm', 'vm', guestVm('natvm', { nics: [{ type: 'NAT' }] }));
    const err = await b.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' }).then(() => null, (e: CallError) => e);
    assert.ok(err, `the start succeeded with ${passt} as passt`);
    assert.equal(err.code, 500);
    assert.equal((await b.call<{ state: string }>('sysadm', 'vm', { action: 'info', vmid })).state, 'STOPPED');
    await body(b, stateDir, vmid, err);
  } finally {
    b.close();
    await other.stop();
  }
}

test('without passt, a NAT nic refuses to start naming passt and host_loopback; a host_loopback nic still starts', async () => {
  await failedStart('/nonexistent/passt', async (b, stateDir, _vmid, err) => {
    assert.match(err.message, /passt/);
    assert.match(err.message, /host_loopback/);
    const slirp = await b.call<{ vmid: string }>('sysadm', 'vm', guestVm('slirp', { nics: [{ type: 'NAT', host_loopback: true }] }));
    await b.call('sysadm', 'vm', { action: 'state', vmid: slirp.vmid, state: 'RUNNING' });
    await readConsoleUntil(path.join(stateDir, 'vms', slirp.vmid, 'console.sock'), new RegExp(MARKER), 90_000);
    await b.call('sysadm', 'vm', { action: 'delete', vmid: slirp.vmid, force: true });
  });
});

test('a passt that ends at once fails the start by name, and leaves no process of the VM behind', async () => {
  await failedStart('/bin/false', async (_b, _stateDir, vmid, err) => {
    assert.match(err.message, /nics\/0: the NAT network ended at start \(\/bin\/false exited/);
    await waitFor(async () => (await pidsWith(vmid)).length === 0, 'QEMU and the guard to be gone', 15_000, 100);
  });
});

test('host_loopback is for NAT nics only', async () => {
  const err = await c.call('sysadm', 'vm', guestVm('badnic', { nics: [{ type: 'BRIDGE', host: 'lan', host_loopback: true }] })).then(() => null, (e: CallError) => e);
  assert.ok(err);
  assert.equal(err.code, 400);
  assert.match(err.message, /nics\/0\/host_loopback/);
});

/**
 * Frames a root guest can craft, sent straight into a real passt as QEMU would: through the guard
 * none of those aimed at the host loopback opens a host connection; passt alone opens one (the
 * hole the guard closes, and the proof that this test can fail).
 */
test('crafted frames: the guard stops what passt alone forwards to the host loopback', async () => {
  const dir = await tempDir('hyved-nat-');
  const v4 = await new HostService('127.0.0.1').listen();
  const v6 = await new HostService('::1').listen();
  const control = await new HostService(hostAddress()).listen();
  const aimed = [
    synFrame('10.0.2.15', '127.0.0.1', v4.port),
    synFrame('10.0.2.15', '0.0.0.0', v4.port),
    synFrame('fd00::15', '::1', v6.port),
    synFrame('fd00::15', '::', v6.port),
    synFrame('fd00::15', '::ffff:127.0.0.1', v4.port),
  ];
  try {
    const links = await openNatLinks(dir, 'craftedvm', [0], 'passt');
    const q = links.qemuEnds[0];
    q.resume();
    for (const f of aimed) q.write(record(f));
    q.write(record(synFrame('10.0.2.15', control.host, control.port)));
    // Frames are handled in order: once the last one has connected, the others were dealt with.
    await waitFor(() => control.connections > 0, 'the allowed connection through the guard', 15_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual([v4.connections, v6.connections], [0, 0], 'a crafted frame reached the host loopback through the guard');
    links.close();
    await waitFor(async () => (await pidsWith('hyved-nat-craftedvm-0')).length === 0, 'the guard to exit once QEMU\'s end closed', 10_000, 50);

    // The same first frame to passt without the guard.
    const [mine, theirs] = await socketPair(dir);
    const passt = spawn('passt', ['-f', '-F', '3', '-l', path.join(dir, 'bare.log'), '--no-map-gw', '-a', '10.0.2.15', '-n', '24', '-g', '10.0.2.2'], {
      stdio: ['ignore', 'ignore', 'ignore', theirs],
    });
    theirs.destroy();
    mine.resume();
    mine.write(record(aimed[0]));
    await waitFor(() => v4.connections > 0, 'passt alone to connect to the host loopback', 15_000);
    mine.destroy();
    await new Promise((r) => (passt.exitCode !== null ? r(null) : passt.once('exit', r)));
  } finally {
    for (const s of [v4, v6, control]) s.close();
  }
});
