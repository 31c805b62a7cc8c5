import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { HyvedClient } from '../src/client/client.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { installDistribution } from './helpers/dist.js';
import { waitFor } from './helpers/wait.js';

// The test distribution's guest reads the seed with test/guest/boot.d/50-nocloud.sh, a stand-in
// for cloud-init, and reports what it applied as HYVED-NOCLOUD lines on its console.

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuestTestKey root@test';
const SCRIPT = '#!/bin/sh\necho HYVED-FIRSTBOOT-RAN as $(id -u)\n';

let d: TestDaemon;
let c: HyvedClient;
let token: string;
const finished = new Map<string, string>();

before(async () => {
  const stateDir = await tempDir();
  await installDistribution(stateDir, 'precise');
  d = await startDaemon({ storage_grades: { sata: 'discs' }, provision: { seed_detach_after_s: 2 }, vm: { stop_timeout_s: 20 } }, stateDir);
  c = await d.client();
  token = await c.login('admin', d.adminPassword);
  c.on('event', (name: string, a: { process_id: string; state: string; result: string }) => name === 'dispatcher' && a.state === 'finished' && finished.set(a.process_id, a.result));
  await c.call('events', 'subscribe', ['dispatcher']);
});
after(async () => {
  const { vms } = await c.call<{ vms: { vmid: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' }).catch(() => ({ vms: [] }));
  for (const v of vms) await c.call('sysadm', 'vm', { action: 'delete', vmid: v.vmid, force: true }).catch(() => {});
  c?.close();
  await d?.stop();
});

async function bytemark(method: string, p: string, body?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${d.url.replace(/^ws/, 'http')}${p}`, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, ...(body ? { body } : {}) });
  return { status: res.status, json: await res.json() };
}

const consoleLog = async (vmid: string) =>
  (await c.call<{ data: string }>('sysadm', 'console', { action: 'log', vmid, since: 0, limit: 1 << 20 }).catch(() => ({ data: '' }))).data;

/** The `n`th (1-based) boot's NoCloud report, once its "done" line is there. */
async function report(vmid: string, n = 1): Promise<string> {
  const text = await waitFor(async () => {
    const t = await consoleLog(vmid);
    return (t.match(/HYVED-NOCLOUD done/g) ?? []).length >= n ? t : null;
  }, `boot ${n}'s NoCloud report`, 90_000, 200);
  const boots = text.split(/HYVED-NOCLOUD done/);
  return boots[n - 1].slice(boots[n - 1].lastIndexOf('HYVED-NOCLOUD instance-id=') >= 0 ? boots[n - 1].lastIndexOf('HYVED-NOCLOUD instance-id=') : 0);
}

async function createAndPoll(body: string): Promise<{ id: number; vmid: string }> {
  const r = await bytemark('POST', '/accounts/myaccountname/groups/default/vm_create', body);
  assert.equal(r.status, 202, JSON.stringify(r.json));
  const { id, vmid } = r.json.virtual_machine;
  await waitFor(async () => (await bytemark('GET', `/accounts/myaccountname/groups/default/virtual_machines/${id}`)).json.power_on === true, 'power_on', 60_000, 250);
  return { id, vmid };
}

function checkHash(rep: string, password: string): void {
  const m = /shadow=root:(\$6\$([^$]+)\$\S+)/.exec(rep);
  assert.ok(m, rep);
  assert.equal(execFileSync('openssl', ['passwd', '-6', '-salt', m[2], password], { encoding: 'utf8' }).trim(), m[1], 'the guest has the hash of the password');
}

test("the seed's request as written: 202, power_on turns true, the guest applies the root password", async () => {
  const { vmid } = await createAndPoll('{"virtual_machine":{"name":"myserver1","cores":1,"memory":1024}, "discs":[{"label":"root","storage_grade":"sata","size":25600}], "reimage":{"distribution":"precise", "root_password":"mypassword"}}');
  const rep = await report(vmid);
  assert.match(rep, /HYVED-NOCLOUD instance-id=iid-[a-z0-9]{16} hostname=myserver1 seed=\/dev\/vd/);
  checkHash(rep, 'mypassword');
  await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
});

test('key, firstboot script and fixed IPv4 arrive; a reboot does not rerun the script; the seed goes after a run; a reimage runs it again', async () => {
  const body = JSON.stringify({
    virtual_machine: { name: 'full1', cores: 1, memory: 256 },
    discs: [{ label: 'root', storage_grade: 'sata', size: 64 }],
    reimage: { distribution: 'precise', root_password: 'pw-full1', ssh_public_key: KEY, firstboot_script: SCRIPT },
    ips: { ipv4: '10.0.2.50' },
  });
  const { vmid } = await createAndPoll(body);
  // Another VM asking for the same address: 409 naming the holder, nothing made.
  const dup = await bytemark('POST', '/accounts/a/groups/default/vm_create', JSON.stringify({ virtual_machine: { name: 'full2', cores: 1, memory: 256 }, ips: { ipv4: '10.0.2.50' } }));
  assert.equal(dup.status, 409);
  assert.match(dup.json.message, /10\.0\.2\.50 is in use by VM 'full1'/);

  const first = await report(vmid, 1);
  checkHash(first, 'pw-full1');
  const md5 = createHash('md5').update(`${KEY}\n`).digest('hex');
  assert.match(first, new RegExp(`authorized_keys=1 md5=${md5}`));
  assert.match(first, /HYVED-FIRSTBOOT-RAN as 0/);
  assert.match(first, /firstboot=ran exit=0 marks=\/run\/root\/nocloud/);
  // QEMU's DHCP handed out the fixed address (dhcpstart) and network-config named it.
  assert.match(first, /net=eth0 mac=52:54:00:[0-9a-f:]{8} addr=10\.0\.2\.50\/24 dhcp=10\.0\.2\.50/);
  const iid = /instance-id=(iid-[a-z0-9]+)/.exec(first)![1];

  // A reboot keeps the seed (the process lives on) and the marker: no second run.
  await c.call('sysadm', 'vm', { action: 'reboot', vmid });
  const second = await report(vmid, 2);
  assert.match(second, new RegExp(`instance-id=${iid}`));
  assert.match(second, /firstboot=skipped/);
  assert.doesNotMatch(second, /HYVED-FIRSTBOOT-RAN/);

  // The stop ends a run longer than seed_detach_after_s: the seed is detached and deleted.
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED' });
  const seed = path.join(d.stateDir, 'vms', vmid, 'seed.img');
  await waitFor(async () => !(await stat(seed).catch(() => null)), 'the seed to go');
  // The marker the guest kept on its first disc, read from the host.
  const raw = path.join(await tempDir(), 'root.raw');
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', path.join(d.stateDir, 'discs', vmid, 'root.qcow2'), raw]);
  assert.equal(execFileSync('mtype', ['-i', raw, `::nocloud/${iid}`], { encoding: 'utf8' }).trim(), iid);
  await rm(path.dirname(raw), { recursive: true, force: true });
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  await waitFor(async () => /HYVED-NOCLOUD seed=none/.test(await consoleLog(vmid)), 'a boot without seed', 60_000, 200);
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'STOPPED', force: true });

  // Reimage: a fresh instance-id, so the script runs once more.
  const r = await c.call<{ reimage: { queueid: string } }>('sysadm', 'vm', { action: 'reimage', vmid, distribution: 'precise', firstboot_script: SCRIPT });
  assert.equal(await waitFor(() => finished.get(r.reimage.queueid), `reimage ${r.reimage.queueid}`, 60_000), 'success');
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  const third = await report(vmid, 3);
  assert.doesNotMatch(third, new RegExp(`instance-id=${iid}`));
  assert.match(third, /firstboot=ran/);
  assert.match(third, /HYVED-FIRSTBOOT-RAN/);
});
