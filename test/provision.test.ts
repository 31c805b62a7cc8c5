import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HyvedClient, CallError } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { fatImage, installDistribution } from './helpers/dist.js';
import { GUEST_DIR } from './helpers/guest.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFileCb);

interface Dispatcher { process_id: string; state: string; result?: string; error?: string; description: string; event_system: string; action: string; [k: string]: unknown }
interface VmInfo { vmid: string; name: string; state: string; type: string; kernel?: string; discs: { label: string; size_mib: number; num?: number }[]; nics: { type: string; mac?: string }[] }

const PASSWORD = 'Pw-never-logged-7d1e';
const SCRIPT = '#!/bin/sh\n# firstboot-secret-4c2a\necho HYVED-FIRSTBOOT-RAN\n';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHyvedTestKeyOnlyForTests me@test';

let d: TestDaemon;
let c: HyvedClient;
let tiny: string;
let importDir: string;
const events: Dispatcher[] = [];
const allEvents: unknown[] = [];

before(async () => {
  const stateDir = await tempDir();
  importDir = await tempDir('hyved-import-');
  // A small tmpfs as a storage grade: a distribution larger than it fills it mid-write.
  tiny = await tempDir('hyved-tiny-');
  await run('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', tiny]);
  await installDistribution(stateDir, 'precise');
  d = await startDaemon({ storage_grades: { sata: 'discs', tiny }, iso: { import_dirs: [importDir] }, provision: { seed_detach_after_s: 3600 } }, stateDir);
  c = await d.client();
  c.on('event', (name: string, a: Dispatcher) => {
    allEvents.push({ name, a });
    if (name === 'dispatcher') events.push(a);
  });
  await c.call('events', 'subscribe', ['dispatcher', 'vm']);
});
after(async () => {
  const { vms } = await c.call<{ vms: { vmid: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' }).catch(() => ({ vms: [] }));
  for (const v of vms) await c.call('sysadm', 'vm', { action: 'delete', vmid: v.vmid, force: true }).catch(() => {});
  c?.close();
  await d?.stop();
  await run('umount', [tiny]).catch(() => {});
  await rm(tiny, { recursive: true, force: true });
  await rm(importDir, { recursive: true, force: true });
});

const finished = (id: string, ms = 60_000) => waitFor(() => events.find((e) => e.process_id === id && e.state === 'finished'), `task ${id}`, ms);
const vmCall = <T>(args: Record<string, unknown>) => c.call<T>('sysadm', 'vm', args);
const info = (vmid: string) => vmCall<VmInfo>({ action: 'info', vmid });
const listed = async () => (await vmCall<{ vms: { vmid: string; name: string }[] }>({ action: 'list', gid: 'default' })).vms;
const mtype = (img: string, file: string) => execFileSync('mtype', ['-i', img, `::${file}`], { encoding: 'utf8' });

/** Everything a create may leave on disk for `vmid`. */
async function leftovers(vmid: string): Promise<string[]> {
  const places = [path.join(d.stateDir, 'vms', vmid), path.join(d.stateDir, 'discs', vmid), path.join(tiny, vmid)];
  const out: string[] = [];
  for (const p of places) if (await stat(p).catch(() => null)) out.push(p);
  return out;
}

async function expectError(p: Promise<unknown>, code: number, pattern?: RegExp): Promise<CallError> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof CallError, `expected a ${code} error, got ${JSON.stringify(err)}`);
  assert.equal(err.code, code, err.message);
  if (pattern) assert.match(`${err.message} ${JSON.stringify(err.details)}`, pattern);
  return err;
}

test('dist list shows a dropped-in distribution with its description; an incomplete folder is not listed', async () => {
  await mkdir(path.join(d.stateDir, 'images', 'dist', 'half'), { recursive: true });
  await writeFile(path.join(d.stateDir, 'images', 'dist', 'half', 'distribution.json'), '{"description":"no disc yet"}');
  const { distributions } = await c.call<{ distributions: { name: string; description: string; direct_boot: boolean; format: string; min_disc_mib: number }[] }>('sysadm', 'dist', { action: 'list' });
  assert.deepEqual(distributions.map((x) => x.name), ['precise']);
  assert.match(distributions[0].description, /Test guest 'precise'/);
  assert.equal(distributions[0].direct_boot, true);
  assert.equal(distributions[0].format, 'raw');
});

test('dist add by URL is a queued task: the folder appears whole with a descriptor; remove takes it away', async () => {
  await fatImage(path.join(importDir, 'cloud.raw'), 'cloudroot', { 'x.txt': 'x' });
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', path.join(importDir, 'cloud.raw'), path.join(importDir, 'cloud.qcow2')]);
  const r = await c.call<{ add: { queueid: string; comment: string } }>('sysadm', 'dist', { action: 'add', name: 'cloudy', url: `file://${importDir}/cloud.qcow2`, description: 'A cloud image' });
  assert.equal(r.add.comment, 'Task Queued');
  const done = await finished(r.add.queueid);
  assert.equal(done.result, 'success', done.error);
  assert.equal(done.event_system, 'sysadm/dist');
  const folder = path.join(d.stateDir, 'images', 'dist', 'cloudy');
  assert.deepEqual((await readdir(folder)).sort(), ['disk.qcow2', 'distribution.json']);
  assert.deepEqual(JSON.parse(await readFile(path.join(folder, 'distribution.json'), 'utf8')), { description: 'A cloud image', min_disc_mib: 2 });
  await expectError(c.call('sysadm', 'dist', { action: 'add', name: 'cloudy', url: `file://${importDir}/cloud.qcow2` }), 409, /already exists/);
  assert.deepEqual(await c.call('sysadm', 'dist', { action: 'remove', name: 'cloudy' }), { name: 'cloudy', removed: true });
  assert.equal(await stat(folder).catch(() => null), null);
  await expectError(c.call('sysadm', 'dist', { action: 'remove', name: 'cloudy' }), 404);
  await expectError(c.call('sysadm', 'dist', { action: 'add', name: '../x', url: `file://${importDir}/cloud.qcow2` }), 400, /name/);
});

test('dist add refuses an image that names a backing file, and leaves nothing in the store', async () => {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/hostname', path.join(importDir, 'sneaky.qcow2')]);
  const r = await c.call<{ add: { queueid: string } }>('sysadm', 'dist', { action: 'add', name: 'sneaky', url: `file://${importDir}/sneaky.qcow2` });
  const done = await finished(r.add.queueid);
  assert.equal(done.result, 'failed');
  assert.match(done.error!, /backing file/);
  assert.deepEqual((await readdir(path.join(d.stateDir, 'images', 'dist'))).filter((n) => n !== 'half').sort(), ['precise']);
});

test('reimage writes the distribution onto the first disc, grows it, and attaches a fresh seed each time', async () => {
  const { vmid } = await vmCall<{ vmid: string }>({ action: 'create', name: 'reimg', gid: 'default', cpus: 1, memory_mib: 128, type: 'BIOS', nics: [{ type: 'NAT' }], discs: [{ label: 'root', size_mib: 16, storage_grade: 'sata' }] });
  const r = await vmCall<{ reimage: { queueid: string; command: string } }>({ action: 'reimage', vmid, distribution: 'precise', root_password: PASSWORD, ssh_public_key: KEY, firstboot_script: SCRIPT, hostname: 'web1.example' });
  assert.equal(r.reimage.command, 'vm reimage reimg precise');
  const done = await finished(r.reimage.queueid);
  assert.equal(done.result, 'success', done.error);
  const disc = path.join(d.stateDir, 'discs', vmid, 'root.qcow2');
  const img = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', disc], { encoding: 'utf8' }));
  assert.equal(img['virtual-size'], 16 * 1024 * 1024);
  // The disc holds the distribution's bytes, the grown part zeros.
  execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', path.join(d.stateDir, 'images', 'dist', 'precise', 'disk.raw'), disc]);
  const vm = await info(vmid);
  assert.equal(vm.kernel, 'precise.vmlinuz');
  const seed = path.join(d.stateDir, 'vms', vmid, 'seed.img');
  assert.equal((await stat(seed)).mode & 0o777, 0o600);
  const meta = mtype(seed, 'meta-data');
  assert.match(meta, /^instance-id: "iid-[a-z0-9]{16}"\nlocal-hostname: "web1.example"\n$/);
  const user = mtype(seed, 'user-data');
  const hash = /"root:(\$6\$([^$]+)\$[^"]+)"/.exec(user)!;
  assert.ok(hash, user);
  assert.equal(execFileSync('openssl', ['passwd', '-6', '-salt', hash[2], PASSWORD], { encoding: 'utf8' }).trim(), hash[1]);
  assert.ok(!user.includes(PASSWORD));
  assert.ok(user.includes(`  - "${KEY}"`));
  assert.ok(user.includes(SCRIPT));
  const mac = vm.nics[0].mac!;
  assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
  // A second reimage: a new instance-id, so the firstboot script runs again.
  const again = await vmCall<{ reimage: { queueid: string } }>({ action: 'reimage', vmid, distribution: 'precise' });
  assert.equal((await finished(again.reimage.queueid)).result, 'success');
  const meta2 = mtype(seed, 'meta-data');
  assert.notEqual(meta2.split('\n')[0], meta.split('\n')[0]);
  assert.match(meta2, /local-hostname: "reimg"/);
  await expectError(vmCall({ action: 'reimage', vmid, distribution: 'nosuch' }), 404, /no distribution 'nosuch'/);
});

const seedCreate = (name: string, extra: Record<string, unknown> = {}) => ({
  action: 'create',
  name,
  gid: 'default',
  cpus: 1,
  memory_mib: 128,
  nics: [{ type: 'NAT' }],
  discs: [{ label: 'root', storage_grade: 'sata', size_mib: 8 }],
  reimage: { distribution: 'precise', root_password: PASSWORD, firstboot_script: SCRIPT },
  ...extra,
});

test('a transactional create is one task: phases discs, image, seed, boot as dispatcher progress, then RUNNING', async () => {
  const r = await vmCall<{ vmid: string; num: number; queueid: string }>(seedCreate('tx1', { power_on: true }));
  assert.match(r.queueid, /^sysadm_vm_create::/);
  assert.ok(Number.isInteger(r.num));
  // Listed at once (busy while it is built), so a client may poll it.
  assert.ok((await listed()).some((v) => v.vmid === r.vmid));
  const done = await finished(r.queueid);
  assert.equal(done.result, 'success', done.error);
  const phases = [...new Set(events.filter((e) => e.process_id === r.queueid).map((e) => /phase \d\/4: (\w+)/.exec(e.description)?.[1]).filter(Boolean))];
  assert.deepEqual(phases, ['discs', 'image', 'seed', 'boot']);
  assert.equal((await info(r.vmid)).state, 'RUNNING');
  assert.equal((await vmCall<{ state: string }>({ action: 'state', vmid: r.vmid, state: 'STOPPED', force: true })).state, 'STOPPED');
});

async function failedCreate(args: Record<string, unknown>, phase: string, why: RegExp): Promise<void> {
  const r = await vmCall<{ vmid: string; queueid: string }>(args);
  const done = await finished(r.queueid);
  assert.equal(done.result, 'failed');
  assert.match(done.error!, new RegExp(`failed in phase '${phase}'`));
  assert.match(done.error!, why);
  await waitFor(async () => !(await listed()).some((v) => v.vmid === r.vmid), 'the VM to go');
  assert.deepEqual(await leftovers(r.vmid), []);
  const tasks = await readdir(path.join(d.stateDir, 'tasks'));
  assert.ok(tasks.length > 0);
}

test('a create that fails in a phase leaves nothing behind and names the phase', async () => {
  const dists = path.join(d.stateDir, 'images', 'dist');
  // image: a disc image qemu-img cannot read.
  await installDistribution(d.stateDir, 'broken');
  await rm(path.join(dists, 'broken', 'disk.raw'));
  await writeFile(path.join(dists, 'broken', 'disk.qcow2'), 'not an image at all');
  await failedCreate(seedCreate('f-image', { ips: { ipv4: '10.0.2.77' }, reimage: { distribution: 'broken' } }), 'image', /qemu-img/);
  // image: the disc is smaller than the image (the descriptor claims nothing).
  await installDistribution(d.stateDir, 'big', { min_disc_mib: 0 });
  execFileSync('qemu-img', ['resize', '-q', '-f', 'raw', path.join(dists, 'big', 'disk.raw'), '64M']);
  await failedCreate(seedCreate('f-small', { reimage: { distribution: 'big' } }), 'image', /smaller than distribution 'big''s image \(64 MiB\)/);
  // image: the disc's storage fills up mid-write.
  await installDistribution(d.stateDir, 'noisy', { min_disc_mib: 0 });
  execFileSync('dd', ['if=/dev/urandom', `of=${path.join(dists, 'noisy', 'disk.raw')}`, 'bs=1M', 'count=6', 'status=none']);
  await failedCreate(seedCreate('f-full', { discs: [{ label: 'root', storage_grade: 'tiny', size_mib: 8 }], reimage: { distribution: 'noisy' } }), 'image', /No space left|space/i);
  assert.deepEqual(await readdir(tiny), []);
  // boot: QEMU cannot load the kernel.
  await installDistribution(d.stateDir, 'badkernel');
  await writeFile(path.join(dists, 'badkernel', 'vmlinuz'), 'not a kernel');
  await failedCreate(seedCreate('f-boot', { power_on: true, ips: { ipv4: '10.0.2.78' }, reimage: { distribution: 'badkernel' } }), 'boot', /./);
  // The IPs of the failed creates are free again, the names too.
  const ok = await vmCall<{ vmid: string; queueid: string }>(seedCreate('f-image', { ips: { ipv4: '10.0.2.77' } }));
  assert.equal((await finished(ok.queueid)).result, 'success');
  await vmCall({ action: 'delete', vmid: ok.vmid });
  // Caught before anything exists: unknown distribution, disc under its minimum, a bad NAT address.
  await expectError(vmCall(seedCreate('f-x', { reimage: { distribution: 'nosuch' } })), 404, /no distribution 'nosuch'/);
  await expectError(vmCall(seedCreate('f-x', { discs: [{ label: 'root', size_mib: 1 }] })), 406, /smaller than distribution 'precise' needs \(2 MiB\)/);
  await expectError(vmCall(seedCreate('f-x', { ips: { ipv4: '10.0.2.2' } })), 406, /gateway/);
  await expectError(vmCall(seedCreate('f-x', { ips: { ipv4: '10.0.2' } })), 400, /ipv4/);
  assert.ok(!(await listed()).some((v) => v.name.startsWith('f-')));
});

test('two VMs asking for the same IPv4: the second is 409 naming the first', async () => {
  const a = await vmCall<{ vmid: string; queueid: string }>(seedCreate('ip-a', { ips: { ipv4: '10.0.2.50', ipv6: 'fd00::50' } }));
  await expectError(vmCall(seedCreate('ip-b', { ips: { ipv4: '10.0.2.50' } })), 409, /10\.0\.2\.50 is in use by VM 'ip-a'/);
  await expectError(vmCall(seedCreate('ip-c', { ips: { ipv6: 'FD00::50' } })), 409, /in use by VM 'ip-a'/);
  assert.equal((await finished(a.queueid)).result, 'success');
  await expectError(vmCall(seedCreate('ip-b', { ips: { ipv4: '10.0.2.50' } })), 409, /in use by VM 'ip-a'/);
  assert.ok(!(await listed()).some((v) => v.name === 'ip-b'));
});

test('cdrom_url: a phase fetches the ISO and attaches it; a later failure takes the fetched ISO away again', async () => {
  await writeFile(path.join(importDir, 'install.iso'), Buffer.alloc(64 * 1024, 7));
  const ok = await vmCall<{ vmid: string; queueid: string }>(seedCreate('cd1', { cdrom_url: `file://${importDir}/install.iso` }));
  const done = await finished(ok.queueid);
  assert.equal(done.result, 'success', done.error);
  assert.ok(events.some((e) => e.process_id === ok.queueid && /phase 1\/5: cdrom/.test(e.description)));
  assert.deepEqual((await vmCall<{ media: unknown[] }>({ action: 'info', vmid: ok.vmid })).media, [{ mid: 'install.iso', mode: 'BLOCK', readonly: true }]);
  await vmCall({ action: 'delete', vmid: ok.vmid });
  await c.call('sysadm', 'iohyve', { action: 'rmiso', target: 'install.iso' });
  const bad = await vmCall<{ vmid: string; queueid: string }>(seedCreate('cd2', { cdrom_url: `file://${importDir}/install.iso`, reimage: { distribution: 'broken' } }));
  assert.match((await finished(bad.queueid)).error!, /failed in phase 'image'/);
  assert.deepEqual(await readdir(path.join(d.stateDir, 'images', 'iso')), []);
});

test('permissions: dist list needs image.view, add and remove image.manage; reimage needs vm.create on the group; definitions need no sign-in', async () => {
  const r = await runHyved(['user', 'add', 'viewer', '--password-stdin', '--group', 'default', '--perm', 'vm.view', '--perm', 'image.view', '--config', d.configFile], 'viewer-pass-1\n');
  assert.equal(r.code, 0, r.stderr);
  const v = await d.client('viewer', 'viewer-pass-1');
  try {
    assert.ok((await v.call<{ distributions: unknown[] }>('sysadm', 'dist', { action: 'list' })).distributions.length > 0);
    await expectError(v.call('sysadm', 'dist', { action: 'add', name: 'x', url: `file://${importDir}/cloud.qcow2` }), 403);
    await expectError(v.call('sysadm', 'dist', { action: 'remove', name: 'precise' }), 403);
    const { vms } = await v.call<{ vms: { vmid: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
    await expectError(v.call('sysadm', 'vm', { action: 'reimage', vmid: vms[0].vmid, distribution: 'precise' }), 403);
    await expectError(v.call('sysadm', 'vm', seedCreate('v1')), 403);
  } finally {
    v.close();
  }
  const anon = await HyvedClient.connect(d.url);
  try {
    assert.ok((await anon.call<{ distributions: unknown[] }>('sysadm', 'dist', { action: 'definitions' })).distributions.length > 0);
    await expectError(anon.call('sysadm', 'dist', { action: 'list' }), 401);
  } finally {
    anon.close();
  }
});

test('the root password and firstboot script never reach logs, task history or events', async () => {
  await d.stop();
  const haystacks: [string, string][] = [['daemon output', d.output()], ['events', JSON.stringify(allEvents)]];
  for (const f of await readdir(path.join(d.stateDir, 'tasks'))) haystacks.push([`tasks/${f}`, await readFile(path.join(d.stateDir, 'tasks', f), 'utf8')]);
  for (const f of (await readdir(d.stateDir)).filter((f) => f.endsWith('.log'))) haystacks.push([f, await readFile(path.join(d.stateDir, f), 'utf8')]);
  assert.ok(haystacks.length > 4);
  for (const [where, text] of haystacks) {
    assert.ok(!text.includes(PASSWORD), `the password is in ${where}`);
    assert.ok(!text.includes('firstboot-secret-4c2a'), `the firstboot script is in ${where}`);
  }
  assert.ok(haystacks.some(([, t]) => t.includes('vm create f-image from broken')), 'the tasks were recorded');
  void GUEST_DIR;
});
