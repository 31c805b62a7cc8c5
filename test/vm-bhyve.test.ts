import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CallError } from '../src/client/client.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';

const daemons: TestDaemon[] = [];
after(() => Promise.all(daemons.map((d) => d.stop())));

// bhyve itself cannot run on Linux; this drives the real daemon with the bhyve driver selected
// as far as it goes without the hypervisor: capabilities, raw discs, and the refusals.
test('with the bhyve driver: PAUSED answers 406, definitions say so, discs are raw, a missing bhyve is a 500', async () => {
  const d = await startDaemon({ hypervisor: 'bhyve', bhyve: { uefi_code: '/nonexistent/BHYVE_UEFI.fd' } });
  daemons.push(d);
  const c = await d.client();
  const defs = await c.call<{ host: { hypervisor: string; pause: boolean; directBoot: boolean }; types: string[] }>('sysadm', 'vm', { action: 'definitions' });
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
  const info = await c.call<{ actions: string[] }>('sysadm', 'vm', { action: 'info', vmid });
  assert.deepEqual(info.actions, ['start', 'delete']);
  c.close();
});
