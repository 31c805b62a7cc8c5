import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CallError } from '../src/client/client.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

// bhyve itself cannot run on Linux; this drives the real daemon with the bhyve driver selected
// as far as it goes without the hypervisor: capabilities, raw discs, and the refusals.
test('with the bhyve driver: PAUSED answers 406, definitions say so, discs are raw, a missing bhyve is a 500', async () => {
  const d = await startDaemon({ hypervisor: 'bhyve', bhyve: { uefi_code: '/nonexistent/BHYVE_UEFI.fd' } });
  daemons.push(d);
  const c = await d.client();
  const defs = await c.call<{ host: { hypervisor: string; pause: boolean; directBoot: boolean }; types: string[]; media_modes: string[]; nic_types: string[] }>('sysadm', 'vm', { action: 'definitions' });
  assert.deepEqual(defs.media_modes, ['BLOCK', 'VIRTIO'], 'only what bhyve can attach is offered');
  assert.deepEqual(defs.nic_types, ['BRIDGE']);
  assert.equal(defs.host.hypervisor, 'bhyve');
  assert.equal(defs.host.pause, false);
  assert.equal(defs.host.directBoot, false);
  assert.deepEqual(defs.types, ['BIOS']);
  await assert.rejects(
    c.call('sysadm', 'vm', { action: 'create', name: 'e', gid: 'default', type: 'EFI', cpus: 1, memory_mib: 256 }),
    (e: CallError) => e.code === 406,
  );
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', {
    action: 'create', name: 'b1', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 256, discs: [{ label: 'disk0', size_mib: 64 }],
  });
  const disc = await stat(path.join(d.stateDir, 'discs', vmid, 'disk0.img'));
  assert.equal(disc.size, 64 * 1024 * 1024, 'a sparse raw image of the asked size');
  const pause = await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'PAUSED' }).catch((e: CallError) => e);
  assert.ok(pause instanceof CallError);
  assert.equal(pause.code, 406);
  assert.match(pause.message, /cannot pause/);
  const start = await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' }).catch((e: CallError) => e);
  assert.ok(start instanceof CallError);
  assert.equal(start.code, 500);
  assert.deepEqual(await c.call('sysadm', 'vm', { action: 'state', vmid }), { vmid, state: 'STOPPED' });
  const info = await c.call<{ actions: string[]; agent: boolean }>('sysadm', 'vm', { action: 'info', vmid });
  assert.deepEqual(info.actions, ['start', 'delete']);
  assert.equal(info.agent, false, 'bhyve VMs have no guest agent channel');
  c.close();
});

/** The call's CallError, or a failure when it succeeds. */
async function refusal(p: Promise<unknown>): Promise<CallError> {
  return p.then(
    (r) => assert.fail(`succeeded: ${JSON.stringify(r)}`),
    (e: unknown) => {
      assert.ok(e instanceof CallError, String(e));
      return e;
    },
  );
}

test('with the bhyve driver: what bhyve cannot do is a 406 at create and update, naming the field', async () => {
  const d = await startDaemon({ hypervisor: 'bhyve', bhyve: { uefi_code: '/nonexistent/BHYVE_UEFI.fd' } });
  daemons.push(d);
  // As the tests place them: an ISO in the store and a kernel among the boot files, so only
  // the hypervisor can be what refuses.
  await writeFile(path.join(d.stateDir, 'images', 'iso', 'tiny.iso'), Buffer.alloc(64 * 1024));
  await mkdir(path.join(d.stateDir, 'images', 'boot'), { recursive: true });
  await writeFile(path.join(d.stateDir, 'images', 'boot', 'vmlinuz'), 'not really a kernel');
  const c = await d.client();
  const defs = await c.call<{ host: Record<string, unknown> }>('sysadm', 'vm', { action: 'definitions' });
  assert.deepEqual(defs.host.mediaModes, ['BLOCK', 'VIRTIO']);
  assert.equal(defs.host.nat, false);
  assert.equal(defs.host.bridge, true);
  assert.deepEqual(defs.host.vnc, { minWidth: 640, minHeight: 480, maxWidth: 3840, maxHeight: 2160 });

  const vm = (name: string, extra: Record<string, unknown>) =>
    c.call('sysadm', 'vm', { action: 'create', name, gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 256, ...extra });

  const usb = await refusal(vm('usb', { media: [{ mid: 'tiny.iso', mode: 'BLOCK' }, { mid: 'tiny.iso', mode: 'USB' }] }));
  assert.equal(usb.code, 406);
  assert.equal(usb.message, 'media/1/mode: the bhyve hypervisor cannot attach USB media');

  const kernel = await refusal(vm('kernel', { kernel: 'vmlinuz', cmdline: 'console=ttyS0' }));
  assert.equal(kernel.code, 406);
  assert.match(kernel.message, /^kernel: the bhyve hypervisor cannot boot a kernel directly/);

  const nat = await refusal(vm('nat', { nics: [{ type: 'NAT' }] }));
  assert.equal(nat.code, 406);
  assert.match(nat.message, /^nics\/0\/type: the bhyve hypervisor has no NAT networking/);

  const small = await refusal(vm('small', { displays: [{ name: 'main', width: 320, height: 200 }] }));
  assert.equal(small.code, 406);
  assert.match(small.message, /^displays\/0: the bhyve hypervisor shows 640x480 to 3840x2160, not 320x200/);

  // Every problem at once, each under its own field.
  const all = await refusal(vm('all', { nics: [{ type: 'NAT' }], media: [{ mid: 'tiny.iso', mode: 'USB' }] }));
  assert.equal(all.code, 406);
  assert.match(all.message, /media\/0\/mode: .*; nics\/0\/type: /);

  const list = await c.call<{ vms: { name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
  assert.deepEqual(list.vms, [], 'nothing was created');

  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', {
    action: 'create', name: 'ok', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 256,
    media: [{ mid: 'tiny.iso', mode: 'BLOCK' }], displays: [{ name: 'main', width: 1024, height: 768 }],
  });
  const update = await refusal(c.call('sysadm', 'vm', { action: 'update', vmid, media: [{ mid: 'tiny.iso', mode: 'USB' }] }));
  assert.equal(update.code, 406);
  assert.equal(update.message, 'media/0/mode: the bhyve hypervisor cannot attach USB media');
  const info = await c.call<{ media: { mode: string }[] }>('sysadm', 'vm', { action: 'info', vmid });
  assert.deepEqual(info.media.map((m) => m.mode), ['BLOCK'], 'the refused update changed nothing');
  await c.call('sysadm', 'vm', { action: 'update', vmid, media: [{ mid: 'tiny.iso', mode: 'VIRTIO' }] });
  c.close();
});

test('a VM defined under QEMU that bhyve cannot run is refused at start with 406, not a 500', async () => {
  const stateDir = await tempDir();
  const q = await startDaemon({ hypervisor: 'qemu' }, stateDir);
  const qc = await q.client();
  const { vmid } = await qc.call<{ vmid: string }>('sysadm', 'vm', {
    action: 'create', name: 'moved', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 256, nics: [{ type: 'NAT' }],
  });
  qc.close();
  await q.stop();

  const b = await startDaemon({ hypervisor: 'bhyve', bhyve: { uefi_code: '/nonexistent/BHYVE_UEFI.fd' } }, stateDir);
  daemons.push(b);
  const c = await b.client('admin', q.adminPassword);
  const start = await refusal(c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' }));
  assert.equal(start.code, 406);
  assert.match(start.message, /^VM 'moved' cannot start under the bhyve hypervisor: nics\/0\/type: the bhyve hypervisor has no NAT networking/);
  assert.deepEqual(await c.call('sysadm', 'vm', { action: 'state', vmid }), { vmid, state: 'STOPPED' });
  c.close();
});
