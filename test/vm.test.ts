import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient, CallError } from '../src/client/client.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { MARKER, guestVm, installGuest, qemuPidsOf, readConsoleUntil } from './helpers/guest.js';
import { waitFor } from './helpers/wait.js';

interface VmEvent { vmid: string; name: string; gid: string; state: string; previous: string | null; seq: number }

let d: TestDaemon;
let c: HyvedClient;
const events: VmEvent[] = [];
const created: string[] = [];

before(async () => {
  const stateDir = await tempDir();
  await installGuest(stateDir);
  d = await startDaemon({ vm: { stop_timeout_s: 30 }, groups: { small: { quota: { vms: 1, cpus: 2, memory_mib: 512 } } }, nics: { lan: { interface: 'lo' } } }, stateDir);
  c = await d.client();
  c.on('event', (name: string, a: VmEvent) => name === 'vm' && events.push(a));
  await c.call('events', 'subscribe', ['vm']);
});
after(async () => {
  for (const vmid of created) await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true }).catch(() => {});
  c?.close();
  await d?.stop();
});

const vmDir = (vmid: string) => path.join(d.stateDir, 'vms', vmid);
const state = (vmid: string, s?: string, force?: boolean) =>
  c.call<{ vmid: string; state: string }>('sysadm', 'vm', { action: 'state', vmid, ...(s ? { state: s } : {}), ...(force ? { force } : {}) });

async function create(args: Record<string, unknown>): Promise<string> {
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', args);
  created.push(vmid);
  return vmid;
}

async function code(p: Promise<unknown>): Promise<number> {
  return p.then(
    () => 200,
    (e: CallError) => e.code,
  );
}

test('a real guest: create, RUNNING, console marker, PAUSED, RUNNING, graceful STOPPED, delete', async () => {
  const vmid = await create(guestVm('guest1', { discs: [{ label: 'disk0', size_mib: 32 }] }));
  const info = await c.call<{ state: string; actions: string[]; hardware_profile: string; type: string }>('sysadm', 'vm', { action: 'info', vmid });
  assert.equal(info.state, 'STOPPED');
  assert.deepEqual(info.actions, ['start', 'delete']);
  assert.equal(info.type, 'BIOS');

  assert.deepEqual(await state(vmid, 'RUNNING'), { vmid, state: 'RUNNING' });
  const consoleText = await readConsoleUntil(path.join(vmDir(vmid), 'console.sock'), new RegExp(MARKER), 60_000);
  assert.match(consoleText, new RegExp(MARKER));
  const running = await c.call<{ actions: string[]; launch_time: string | null }>('sysadm', 'vm', { action: 'info', vmid });
  assert.deepEqual(running.actions, ['stop', 'reboot', 'pause']);
  assert.ok(running.launch_time);

  assert.deepEqual(await state(vmid, 'PAUSED'), { vmid, state: 'PAUSED' });
  // The state query asks QEMU (query-status) rather than trusting our own bookkeeping.
  assert.deepEqual(await state(vmid), { vmid, state: 'PAUSED' });
  assert.deepEqual(await state(vmid, 'PAUSED'), { vmid, state: 'PAUSED' }, 'same state: 200, no change');
  assert.deepEqual(await state(vmid, 'RUNNING'), { vmid, state: 'RUNNING' });

  const started = Date.now();
  assert.deepEqual(await state(vmid, 'STOPPED'), { vmid, state: 'STOPPED' });
  assert.ok(Date.now() - started < 15_000, 'the guest powered itself off on the ACPI button, well before the 30 s timeout');
  assert.doesNotMatch(d.output(), /ignored the power button/);
  assert.deepEqual(await qemuPidsOf(vmid), []);

  const mine = events.filter((e) => e.vmid === vmid).map((e) => e.state);
  assert.deepEqual(mine, ['STOPPED', 'STARTING', 'RUNNING', 'PAUSING', 'PAUSED', 'RESUMING', 'RUNNING', 'STOPPING', 'STOPPED']);

  const disc = path.join(d.stateDir, 'discs', vmid, 'disk0.qcow2');
  await access(disc);
  await c.call('sysadm', 'vm', { action: 'delete', vmid });
  await assert.rejects(access(vmDir(vmid)));
  await assert.rejects(access(disc));
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'info', vmid })), 404);
});

test('force stop is immediate; delete of a running VM needs force', async () => {
  const vmid = await create(guestVm('guest2'));
  await state(vmid, 'RUNNING');
  await readConsoleUntil(path.join(vmDir(vmid), 'console.sock'), new RegExp(MARKER), 60_000);
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'delete', vmid })), 409);
  const started = Date.now();
  assert.deepEqual(await state(vmid, 'STOPPED', true), { vmid, state: 'STOPPED' });
  assert.ok(Date.now() - started < 5000);
  await c.call('sysadm', 'vm', { action: 'delete', vmid });
  await assert.rejects(access(vmDir(vmid)));
});

test('an EFI VM with no boot media reaches the OVMF firmware', async () => {
  const vmid = await create({ action: 'create', name: 'efi1', gid: 'default', type: 'EFI', cpus: 1, memory_mib: 256 });
  await state(vmid, 'RUNNING');
  const text = await readConsoleUntil(path.join(vmDir(vmid), 'console.sock'), /BdsDxe|UEFI|Shell>|EDK II/, 120_000);
  assert.match(text, /BdsDxe|UEFI|Shell>|EDK II/);
  await access(path.join(vmDir(vmid), 'efivars.fd'));
  await state(vmid, 'STOPPED', true);
});

async function reason(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => 'ok',
    (e: CallError) => e.reason,
  );
}

test('errors: unknown vmid 404, duplicate name 409, quota 406, bad type/mode 406, unknown media 404, each with its reason word', async () => {
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'info', vmid: 'aaaaaaaaaaaa' })), 404);
  assert.equal(await reason(c.call('sysadm', 'vm', { action: 'info', vmid: 'aaaaaaaaaaaa' })), 'not_found');
  assert.equal(await code(state('aaaaaaaaaaaa', 'RUNNING')), 404);
  const vmid = await create(guestVm('dupe'));
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('dupe'))), 409);
  assert.equal(await reason(c.call('sysadm', 'vm', guestVm('dupe'))), 'name_taken');
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('q1', { gid: 'small', memory_mib: 1024 }))), 406, 'memory quota');
  assert.equal(await reason(c.call('sysadm', 'vm', guestVm('q1', { gid: 'small', memory_mib: 1024 }))), 'quota_exceeded');
  assert.equal(await reason(c.call('sysadm', 'vm', guestVm('t', { type: 'ARM' }))), 'not_acceptable');
  await create(guestVm('q2', { gid: 'small' }));
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('q3', { gid: 'small' }))), 406, 'VM count quota');
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('t', { type: 'ARM' }))), 406);
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('m', { media: [{ mid: 'nothere.iso', mode: 'FLOPPY' }] }))), 406);
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('m', { media: [{ mid: 'nothere.iso', mode: 'USB' }] }))), 404);
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('n', { nics: [{ type: 'BRIDGE', host: 'nope' }] }))), 404);
  const hostless = await c.call('sysadm', 'vm', guestVm('n', { nics: [{ type: 'BRIDGE' }] })).catch((e: CallError) => e);
  assert.ok(hostless instanceof CallError);
  assert.equal(hostless.code, 400);
  assert.deepEqual(hostless.details.map((x) => (x as { path: string }).path), ['/args/nics/0/host']);
  const rosetta = await c.call('sysadm', 'vm', guestVm('r', { rosetta: true })).catch((e: CallError) => e);
  assert.ok(rosetta instanceof CallError);
  assert.equal(rosetta.code, 406);
  assert.match(rosetta.message, /^rosetta: /);
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('g', { gid: 'nogroup' }))), 404);
  assert.equal(await code(c.call('sysadm', 'vm', guestVm('k', { kernel: '../../users.json' }))), 400);
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'list', gid: 'nogroup' })), 404);
  const bridged = await create(guestVm('bridged', { nics: [{ type: 'BRIDGE', host: 'lan' }] }));
  const notBridge = await state(bridged, 'RUNNING').catch((e: CallError) => e);
  assert.ok(notBridge instanceof CallError);
  assert.equal(notBridge.code, 406, 'lo is no bridge: a clear 406, not a QEMU failure');
  assert.match(notBridge.message, /not a bridge/);
  const list = await c.call<{ vms: { vmid: string; name: string; state: string; cpus: number; memory_mib: number }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
  assert.ok(list.vms.some((v) => v.vmid === vmid && v.name === 'dupe' && v.state === 'STOPPED' && v.cpus === 1 && v.memory_mib === 256));
});

test('a QEMU that refuses to start: 500 with its message, the VM left STOPPED and intact', async () => {
  const vmid = await create(guestVm('broken', { discs: [{ label: 'disk0', size_mib: 16 }] }));
  const disc = path.join(d.stateDir, 'discs', vmid, 'disk0.qcow2');
  await writeFile(disc, 'this is not a qcow2 image');
  const err = await state(vmid, 'RUNNING').then(
    () => assert.fail('started'),
    (e: CallError) => e,
  );
  assert.equal(err.code, 500);
  assert.match(err.message, /qcow2|format|Image/i);
  assert.deepEqual(await state(vmid), { vmid, state: 'STOPPED' });
  const def = JSON.parse(await readFile(path.join(vmDir(vmid), 'vm.json'), 'utf8'));
  assert.equal(def.name, 'broken');
  assert.deepEqual(await qemuPidsOf(vmid), []);
});

test('hardware changes need the VM stopped: 409 while running', async () => {
  const vmid = await create(guestVm('upd'));
  const up = await c.call<{ cpus: number; description: string }>('sysadm', 'vm', { action: 'update', vmid, cpus: 2, description: 'two' });
  assert.equal(up.cpus, 2);
  await state(vmid, 'RUNNING');
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'update', vmid, memory_mib: 512 })), 409);
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'update', vmid, description: 'still fine' })), 200);
  await state(vmid, 'STOPPED', true);
});

test('restart power-cycles a running VM into a new QEMU process; a stopped VM cannot be restarted', async () => {
  const vmid = await create(guestVm('restart1'));
  assert.equal(await code(c.call('sysadm', 'vm', { action: 'restart', vmid })), 409);
  await state(vmid, 'RUNNING');
  await readConsoleUntil(path.join(vmDir(vmid), 'console.sock'), new RegExp(MARKER), 60_000);
  const [before] = await qemuPidsOf(vmid);
  const from = events.length;
  assert.deepEqual(await c.call('sysadm', 'vm', { action: 'restart', vmid }), { vmid, state: 'RUNNING' });
  const after = await qemuPidsOf(vmid);
  assert.equal(after.length, 1);
  assert.notEqual(after[0], before);
  assert.deepEqual(events.slice(from).filter((e) => e.vmid === vmid).map((e) => e.state), ['STOPPING', 'STOPPED', 'STARTING', 'RUNNING']);
  await state(vmid, 'STOPPED', true);
});

test('kill -9 of the daemon while two VMs run: both re-adopted RUNNING, pause/resume work, no duplicate QEMU', async () => {
  const a = await create(guestVm('survivor-a'));
  const b = await create(guestVm('survivor-b'));
  await state(a, 'RUNNING');
  await state(b, 'RUNNING');
  const pidsBefore = [...(await qemuPidsOf(a)), ...(await qemuPidsOf(b))];
  assert.equal(pidsBefore.length, 2);
  c.close();
  await d.stop('SIGKILL');
  for (const vmid of [a, b]) assert.equal((await qemuPidsOf(vmid)).length, 1, 'QEMU outlived the daemon');

  d = await startDaemon({ vm: { stop_timeout_s: 30 } }, d.stateDir);
  c = await d.client('admin', (await readFile(path.join(d.stateDir, 'admin-password'), 'utf8')).trim());
  c.on('event', (name: string, ev: VmEvent) => name === 'vm' && events.push(ev));
  await c.call('events', 'subscribe', ['vm']);
  for (const vmid of [a, b]) assert.deepEqual(await state(vmid), { vmid, state: 'RUNNING' });
  assert.deepEqual(await state(a, 'PAUSED'), { vmid: a, state: 'PAUSED' });
  assert.deepEqual(await state(a, 'RUNNING'), { vmid: a, state: 'RUNNING' });
  assert.deepEqual([...(await qemuPidsOf(a)), ...(await qemuPidsOf(b))].sort(), pidsBefore.sort(), 'same processes, none started twice');
  assert.match(d.output(), /re-adopted VM survivor-a/);
  // A QEMU killed from outside is seen as STOPPED, with an event.
  const killedAt = events.length;
  process.kill((await qemuPidsOf(b))[0], 'SIGKILL');
  const stoppedEvent = () => events.slice(killedAt).some((e) => e.vmid === b && e.state === 'STOPPED' && e.previous === 'RUNNING');
  await waitFor(stoppedEvent, 'a vm event RUNNING -> STOPPED', 10_000, 50);
  assert.ok(stoppedEvent(), 'a vm event RUNNING -> STOPPED');
  assert.deepEqual(await state(b), { vmid: b, state: 'STOPPED' });
  await state(a, 'STOPPED', true);
});

test('media by USB, BLOCK and VIRTIO, a display and a NAT nic: QEMU accepts them all', async () => {
  const isoDir = path.join(d.stateDir, 'images', 'iso');
  await writeFile(path.join(isoDir, 'tiny.iso'), Buffer.alloc(1024 * 1024));
  const vmid = await create(guestVm('devices', {
    media: [
      { mid: 'tiny.iso', mode: 'USB', readonly: true },
      { mid: 'tiny.iso', mode: 'BLOCK', readonly: true },
      { mid: 'tiny.iso', mode: 'VIRTIO', readonly: true },
    ],
    nics: [{ type: 'NAT' }],
    displays: [{ name: 'main', width: 1024, height: 768 }],
  }));
  assert.deepEqual(await state(vmid, 'RUNNING'), { vmid, state: 'RUNNING' });
  await access(path.join(vmDir(vmid), 'vnc.sock'));
  const log = await readFile(path.join(vmDir(vmid), 'qemu.log'), 'utf8');
  for (const dev of ['usb-storage', 'ide-cd', 'scsi-cd', 'virtio-net-pci', 'VGA,xres=1024,yres=768']) assert.ok(log.includes(dev), dev);
  assert.equal(await code(c.call('sysadm', 'iohyve', { action: 'rmiso', target: 'tiny.iso' })), 409, 'an ISO in use by a VM stays');
  await state(vmid, 'STOPPED', true);
  await assert.rejects(access(path.join(vmDir(vmid), 'vnc.sock')), 'no socket left behind by a stopped VM');
});

test('a hung QEMU reads UNKNOWN within the status timeout, and listing never waits on it', async () => {
  const vmid = await create(guestVm('hung'));
  await state(vmid, 'RUNNING');
  const [pid] = await qemuPidsOf(vmid);
  process.kill(pid, 'SIGSTOP');
  try {
    const t0 = Date.now();
    assert.deepEqual(await state(vmid), { vmid, state: 'UNKNOWN' });
    assert.ok(Date.now() - t0 < 5000);
    const t1 = Date.now();
    const list = await c.call<{ vms: { vmid: string; state: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
    assert.ok(Date.now() - t1 < 500, 'list answers from what it knows');
    assert.equal(list.vms.find((v) => v.vmid === vmid)?.state, 'UNKNOWN');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.deepEqual(await state(vmid), { vmid, state: 'RUNNING' });
  await state(vmid, 'STOPPED', true);
});

test('SIGTERM leaves VMs running; on the next start autostart VMs come up by themselves', async () => {
  const running = await create(guestVm('keeps-running'));
  const auto = await create(guestVm('auto', { autostart: true }));
  await state(running, 'RUNNING');
  const [pid] = await qemuPidsOf(running);
  c.close();
  assert.equal(await d.stop('SIGTERM'), 0);
  assert.deepEqual(await qemuPidsOf(running), [pid], 'the daemon left its VM alone');
  assert.deepEqual(await qemuPidsOf(auto), []);

  d = await startDaemon({ vm: { stop_timeout_s: 30 } }, d.stateDir);
  c = await d.client('admin', (await readFile(path.join(d.stateDir, 'admin-password'), 'utf8')).trim());
  assert.deepEqual(await state(running), { vmid: running, state: 'RUNNING' });
  await waitFor(async () => (await state(auto)).state === 'RUNNING', 'the autostart VM to run', 15_000, 100);
  assert.deepEqual(await state(auto), { vmid: auto, state: 'RUNNING' });
  await state(running, 'STOPPED', true);
  await state(auto, 'STOPPED', true);
});
