import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HyvedClient, CallError } from '../src/client/client.js';
import { runHyved, startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { MARKER, installGuest, readConsoleUntil } from './helpers/guest.js';
import { fixture, writeOva, writeTar } from './helpers/ova.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);

interface Finished { process_id: string; state: string; result?: string; error?: string; code?: number; reason?: string; description?: string }
interface VmInfo { vmid: string; name: string; cpus: number; memory_mib: number; type: string; discs: { label: string; size_mib: number }[]; state: string }

let d: TestDaemon;
let admin: HyvedClient;
let work: string;
let importDir: string;
/** The qcow2 every test disc was made from: 16 MiB, 0xab in its first MiB and 0xcd at 9 MiB. */
let source: string;
let vmdk: string;
const events: Finished[] = [];

const basic = () => 'Basic ' + Buffer.from(`admin:${d.adminPassword}`).toString('base64');

before(async () => {
  work = await tempDir('hyved-image-');
  importDir = path.join(work, 'import');
  await mkdir(importDir);
  source = path.join(work, 'source.qcow2');
  vmdk = path.join(work, 'disk.vmdk');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', source, '16M']);
  await run('qemu-io', ['-c', 'write -P 0xab 0 1M', '-c', 'write -P 0xcd 9M 512k', source]);
  await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', source, vmdk]);
  d = await startDaemon({ iso: { import_dirs: [importDir] }, groups: { small: { quota: { vms: 2 } } } });
  await installGuest(d.stateDir);
  admin = await d.client();
  admin.on('event', (name: string, args: Finished) => name === 'dispatcher' && events.push(args));
  await admin.call('events', 'subscribe', ['dispatcher']);
});

after(async () => {
  for (const vm of (await admin?.call<{ vms: VmInfo[] }>('sysadm', 'vm', { action: 'list', gid: 'default' }).catch(() => ({ vms: [] })))?.vms ?? []) {
    await admin.call('sysadm', 'vm', { action: 'delete', vmid: vm.vmid, force: true }).catch(() => {});
  }
  admin?.close();
  await d?.stop();
});

const finished = (id: string, ms = 120_000) => waitFor(() => events.find((e) => e.process_id === id && e.state === 'finished'), `task ${id}`, ms);

/** Each hand-written descriptor with its href and sizes set to the real VMDK. */
async function descriptor(fixtureName: string, href: string): Promise<string> {
  const size = (await stat(vmdk)).size;
  return (await fixture(fixtureName)).replace(/ovf:size="\d+"/, `ovf:size="${size}"`).replace(/ovf:href="[^"]+"/, `ovf:href="${href}"`);
}

/**
 * `curl -T` as an administrator uploads: curl reads an answer that comes before the whole body was
 * sent (a refusal part way) and stops sending, where fetch() only reports the broken pipe.
 */
async function upload(file: string, as: string, auth = basic()): Promise<{ status: number; body: { args: Record<string, unknown> } }> {
  const { stdout } = await run('curl', ['-s', '-T', file, '-H', `Authorization: ${auth}`, '-w', '\n%{http_code}', `${d.url}/upload/ova/${as}`], { maxBuffer: 1 << 20 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) as { args: Record<string, unknown> } };
}

/** Every file of the shared image folder, hidden temp files included. */
const storeFiles = () => readdir(path.join(d.stateDir, 'images', 'ova', 'images'));

async function deploy(args: Record<string, unknown>): Promise<{ vms: VmInfo[]; names: string[]; done: Finished }> {
  const r = await admin.call<{ deploy: { queueid: string; names: string[] } }>('sysadm', 'image', { action: 'deploy', gid: 'default', ...args });
  const done = await finished(r.deploy.queueid);
  const list = await admin.call<{ vms: VmInfo[] }>('sysadm', 'vm', { action: 'list', gid: String(args.gid ?? 'default') });
  return { vms: list.vms.filter((v) => r.deploy.names.includes(v.name)), names: r.deploy.names, done };
}

const info = (vmid: string) => admin.call<VmInfo>('sysadm', 'vm', { action: 'info', vmid });
const discOf = (vmid: string, label = 'disk0') => path.join(d.stateDir, 'discs', vmid, `${label}.qcow2`);
const guestBoot = { type: 'BIOS', kernel: 'vmlinuz', initrd: 'initrd.gz', cmdline: 'console=ttyS0 panic=-1 quiet' };

async function sameBytes(disc: string): Promise<void> {
  const { stdout } = await run('qemu-img', ['compare', '-U', source, disc]);
  assert.match(stdout, /Images are identical/);
}

test('uploads of OVAs in VMware 1.0, VirtualBox 2.0 and OVF 0.9 style; info reads CPU, memory, discs and firmware', async () => {
  const cases = [
    { fixture: 'vmware-1.0.ovf', file: 'appliance.ova', href: 'appliance-disk1.vmdk', cpus: 2, memory: 384, capacity: 16 * 2 ** 20, firmware: 'EFI', version: '1.x' },
    { fixture: 'vbox-2.0.ovf', file: 'alpine.ova', href: 'alpine-disk001.vmdk', cpus: 2, memory: 512, capacity: 32 * 2 ** 20, firmware: 'EFI', version: '2.x' },
    { fixture: 'vmware-0.9.ovf', file: 'legacy.ova', href: 'legacy-disk1.vmdk', cpus: 1, memory: 256, capacity: 16 * 2 ** 20, firmware: 'BIOS', version: '0.9' },
  ];
  for (const c of cases) {
    const ova = path.join(work, c.file);
    await writeOva(ova, c.file.replace('.ova', '.ovf'), await descriptor(c.fixture, c.href), [{ name: c.href, file: vmdk }], c.version === '0.9' ? 'SHA1' : 'SHA256');
    const up = await upload(ova, c.file);
    assert.equal(up.status, 201, JSON.stringify(up.body));
    assert.deepEqual(up.body.args, { path: `images/${c.file}`, name: c.file, size: (await stat(ova)).size });
    const i = await admin.call<{ descriptor: { version: string; systems: { cpus: number; memory_mib: number; firmware: string; discs: { capacity_bytes: number }[] }[] } }>('sysadm', 'image', { action: 'info', path: `images/${c.file}` });
    const s = i.descriptor.systems[0];
    assert.deepEqual([i.descriptor.version, s.cpus, s.memory_mib, s.firmware, s.discs[0].capacity_bytes], [c.version, c.cpus, c.memory, c.firmware, c.capacity], c.file);
  }
  const list = await admin.call<{ images: { name: string; path: string; cpus: number }[] }>('sysadm', 'image', { action: 'list', sort: 'name' });
  assert.deepEqual(list.images.map((x) => [x.path, x.cpus]), [['images/alpine.ova', 2], ['images/appliance.ova', 2], ['images/legacy.ova', 1]]);
  const filtered = await admin.call<{ images: { name: string }[] }>('sysadm', 'image', { action: 'list', name: 'PLIAN' });
  assert.deepEqual(filtered.images.map((x) => x.name), ['appliance.ova']);
  // Bearer works as Basic does; an existing name is 409 unless overwrite.
  const token = await (await d.client()).login('admin', d.adminPassword);
  const again = await upload(path.join(work, 'legacy.ova'), 'legacy.ova', `Bearer ${token}`);
  assert.equal(again.status, 409);
  assert.equal((await fetch(`${d.url}/upload/ova/legacy.ova`, { method: 'PUT', body: 'x' })).status, 401);
});

test('deploy: a VMware OVA becomes a VM whose disc holds the VMDK bytes and which boots the test guest', async () => {
  const { vms, done } = await deploy({ path: 'images/appliance.ova', name: 'appl', ...guestBoot });
  assert.equal(done.result, 'success', done.error);
  assert.equal(vms.length, 1);
  const vm = await info(vms[0].vmid);
  assert.deepEqual([vm.cpus, vm.memory_mib, vm.discs.map((x) => x.size_mib)], [2, 384, [16]]);
  await sameBytes(discOf(vm.vmid));
  await admin.call('sysadm', 'vm', { action: 'state', vmid: vm.vmid, state: 'RUNNING' });
  const text = await readConsoleUntil(path.join(d.stateDir, 'vms', vm.vmid, 'console.sock'), new RegExp(MARKER), 90_000);
  assert.match(text, new RegExp(MARKER));
  await admin.call('sysadm', 'vm', { action: 'state', vmid: vm.vmid, state: 'STOPPED', force: true });
});

test('deploy: count 3 of an OVF 0.9 image makes 3 VMs, each with the same disc; VirtualBox 2.0 sizes and EFI', async () => {
  const { vms, names, done } = await deploy({ path: 'images/legacy.ova', name: 'old', count: 3 });
  assert.equal(done.result, 'success', done.error);
  assert.deepEqual(names, ['old', 'old-2', 'old-3']);
  assert.equal(vms.length, 3);
  for (const vm of vms) {
    assert.deepEqual([vm.cpus, vm.memory_mib], [1, 256]);
    await sameBytes(discOf(vm.vmid));
  }
  const vbox = await deploy({ path: 'images/alpine.ova', name: 'alp', memory_mib: 300 });
  assert.equal(vbox.done.result, 'success', vbox.done.error);
  const vm = await info(vbox.vms[0].vmid);
  assert.deepEqual([vm.cpus, vm.memory_mib, vm.type, vm.discs[0].size_mib], [2, 300, 'EFI', 32]);
  await sameBytes(discOf(vm.vmid));
});

test('deploy: a failure part way removes every VM the task made', async () => {
  const r = await deploy({ path: 'images/legacy.ova', name: 'q', count: 3, gid: 'small' });
  assert.equal(r.done.result, 'failed');
  assert.match(r.done.error ?? '', /quota of group 'small' exceeded/);
  assert.deepEqual([r.done.code, r.done.reason], [406, 'quota_exceeded']);
  assert.deepEqual(r.vms, []);
  const discs = await readdir(path.join(d.stateDir, 'discs')).catch(() => []);
  const known = (await admin.call<{ vms: VmInfo[] }>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.map((v) => v.vmid);
  assert.deepEqual(discs.filter((x) => !known.includes(x)), []);
});

test('deploy: a cancel while discs are converted removes the VMs made so far', async () => {
  // Incompressible data: the conversion takes long enough to be cut short.
  const raw = path.join(work, 'random.raw');
  await writeFile(raw, (await import('node:crypto')).randomBytes(96 * 1024 * 1024));
  const big = path.join(work, 'big.vmdk');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, big]);
  const ova = path.join(work, 'big.ova');
  const ovf = (await fixture('vmware-0.9.ovf')).replace(/ovf:size="\d+"/, `ovf:size="${(await stat(big)).size}"`).replace('ovf:capacity="16777216"', 'ovf:capacity="100663296"');
  await writeOva(ova, 'big.ovf', ovf, [{ name: 'legacy-disk1.vmdk', file: big }]);
  assert.equal((await upload(ova, 'big.ova')).status, 201);
  // ~100 MiB through the upload's few reused batches: the stored file is the sent one, byte for byte.
  const digest = async (file: string) => (await import('node:crypto')).createHash('sha256').update(await readFile(file)).digest('hex');
  assert.equal(await digest(path.join(d.stateDir, 'images', 'ova', 'images', 'big.ova')), await digest(ova));
  try {
    // Six discs to convert: the cancel lands well before the last, however fast this machine is.
    const r = await admin.call<{ deploy: { queueid: string; names: string[] } }>('sysadm', 'image', { action: 'deploy', path: 'images/big.ova', gid: 'default', name: 'big', count: 6 });
    await waitFor(() => events.find((e) => e.process_id === r.deploy.queueid && /converting big/.test(e.description ?? '')), 'a conversion', 60_000);
    await admin.call('rpc', 'dispatcher', { action: 'kill', job_id: r.deploy.queueid });
    const done = await finished(r.deploy.queueid);
    assert.equal(done.result, 'canceled');
    const names = (await admin.call<{ vms: VmInfo[] }>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.map((v) => v.name);
    assert.deepEqual(names.filter((n) => n.startsWith('big')), []);
  } finally {
    await admin.call('sysadm', 'image', { action: 'delete', path: 'images/big.ova' });
  }
});

test('deploy: VMDKs that would make qemu-img read other host files are refused before any VM is made', async () => {
  const flat = path.join(work, 'flat.vmdk');
  await writeFile(flat, '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 32 FLAT "/etc/passwd" 0\n\nddb.virtualHWVersion = "4"\n');
  const child = path.join(work, 'child.vmdk');
  await run('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', vmdk, '-F', 'vmdk', child]);
  for (const [name, file, error] of [['flat', flat, /not a sparse or streamOptimized VMDK/], ['child', child, /refers to a parent image/]] as const) {
    const ova = path.join(work, `${name}.ova`);
    await writeOva(ova, `${name}.ovf`, (await descriptor('vmware-0.9.ovf', 'legacy-disk1.vmdk')).replace(/ovf:size="\d+"/, `ovf:size="${(await stat(file)).size}"`), [{ name: 'legacy-disk1.vmdk', file }]);
    assert.equal((await upload(ova, `${name}.ova`)).status, 201);
    const r = await deploy({ path: `images/${name}.ova`, name: `x-${name}` });
    assert.equal(r.done.result, 'failed');
    assert.match(r.done.error ?? '', error);
    assert.deepEqual(r.vms, []);
    await admin.call('sysadm', 'image', { action: 'delete', path: `images/${name}.ova` });
  }
});

test('export: a stopped VM as OVF 1.0 + SHA256 manifest + streamOptimized VMDK, listed, deployed again with the same hardware, booting', async () => {
  const src = (await admin.call<{ vms: VmInfo[] }>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.find((v) => v.name === 'appl')!;
  await waitFor(async () => (await info(src.vmid)).state === 'STOPPED', 'appl to stop', 30_000);
  const r = await admin.call<{ export: { queueid: string; path: string } }>('sysadm', 'image', { action: 'export', vmid: src.vmid, name: 'appl-copy' });
  assert.equal(r.export.path, `${src.vmid}/appl-copy.ova`);
  const done = await finished(r.export.queueid);
  assert.equal(done.result, 'success', done.error);
  const list = await admin.call<{ images: { path: string; cpus: number; memory_mib: number }[] }>('sysadm', 'image', { action: 'list' });
  assert.ok(list.images.some((x) => x.path === r.export.path && x.cpus === 2 && x.memory_mib === 384));
  const vss = (await (await fetch(`${d.url}/v2/image`, { headers: { Authorization: basic() } })).json()) as { data: { name: string; path: string }[] };
  assert.ok(vss.data.some((x) => x.path === r.export.path && x.name === 'appl-copy.ova'), JSON.stringify(vss.data));
  const i = await admin.call<{ descriptor: { version: string; systems: { firmware: string; discs: { capacity_bytes: number }[] }[] } }>('sysadm', 'image', { action: 'info', path: r.export.path });
  assert.equal(i.descriptor.version, '1.x');
  assert.equal(i.descriptor.systems[0].discs[0].capacity_bytes, 16 * 2 ** 20);
  // appl was deployed with type BIOS (to boot the test kernel directly): the export records the VM's firmware.
  assert.equal(i.descriptor.systems[0].firmware, 'BIOS');
  const copy = await deploy({ path: r.export.path, name: 'appl-2', ...guestBoot, power_on: true });
  assert.equal(copy.done.result, 'success', copy.done.error);
  const vm = await info(copy.vms[0].vmid);
  assert.deepEqual([vm.cpus, vm.memory_mib, vm.discs.map((x) => x.size_mib), vm.state], [2, 384, [16], 'RUNNING']);
  await sameBytes(discOf(vm.vmid));
  await readConsoleUntil(path.join(d.stateDir, 'vms', vm.vmid, 'console.sock'), new RegExp(MARKER), 90_000);
  await admin.call('sysadm', 'vm', { action: 'state', vmid: vm.vmid, state: 'STOPPED', force: true });
  // The OVF-folder form lands as <vmid>/<name>.ovf with its manifest and disc beside it.
  const folder = await admin.call<{ export: { queueid: string; path: string } }>('sysadm', 'image', { action: 'export', vmid: src.vmid, name: 'appl-dir', format: 'ovf' });
  assert.equal((await finished(folder.export.queueid)).result, 'success');
  const files = (await readdir(path.join(d.stateDir, 'images', 'ova', src.vmid))).sort();
  assert.deepEqual(files, ['.gid', 'appl-copy.ova', 'appl-dir-disk1.vmdk', 'appl-dir.mf', 'appl-dir.ovf']);
  assert.match(await readFile(path.join(d.stateDir, 'images', 'ova', src.vmid, 'appl-dir.mf'), 'utf8'), /^SHA256\(appl-dir\.ovf\)= [0-9a-f]{64}\nSHA256\(appl-dir-disk1\.vmdk\)= [0-9a-f]{64}\n$/);
  const again = await deploy({ path: folder.export.path, name: 'appl-3' });
  assert.equal(again.done.result, 'success', again.done.error);
  await sameBytes(discOf(again.vms[0].vmid));
});

test('untrusted OVAs: each a 4xx naming what is wrong, with nothing left in the store', async () => {
  const good = await descriptor('vmware-1.0.ovf', 'appliance-disk1.vmdk');
  const disk = [{ name: 'appliance-disk1.vmdk', file: vmdk }];
  const bad: { name: string; make(file: string): Promise<void>; error: RegExp }[] = [
    {
      name: 'tampered.ova',
      async make(file) {
        await writeOva(file, 'a.ovf', good, disk);
        const bytes = await readFile(file);
        bytes[bytes.length - 3000] ^= 0xff;
        await writeFile(file, bytes);
      },
      error: /SHA256 of 'appliance-disk1.vmdk' does not match the manifest/,
    },
    {
      name: 'truncated.ova',
      async make(file) {
        await writeOva(file, 'a.ovf', good, disk);
        const bytes = await readFile(file);
        await writeFile(file, bytes.subarray(0, bytes.length - 5000));
      },
      error: /truncated/,
    },
    { name: 'entity.ova', make: async (file) => writeOva(file, 'a.ovf', await fixture('external-entity.ovf'), []), error: /DOCTYPE: document type declarations/ },
    { name: 'traversal.ova', make: async (file) => writeOva(file, 'a.ovf', await fixture('traversal-href.ovf'), []), error: /@href: '..\/..\/etc\/passwd' is not a plain file name/ },
    { name: 'absolute.ova', make: (file) => writeTar(file, [{ name: 'a.ovf', data: good }, { name: '/etc/passwd', data: 'x' }]), error: /member '\/etc\/passwd' is an absolute path/ },
    {
      name: 'many.ova',
      make: (file) => writeTar(file, [{ name: 'a.ovf', data: good }, ...Array.from({ length: 100_000 }, (_, i) => ({ name: `f${i}`, data: '' }))]),
      error: /more than 64 members/,
    },
  ];
  // Each upload's check runs on a thread of its own: none may outlive its upload.
  const threads = async () => Number(/^Threads:\s+(\d+)/m.exec(await readFile(`/proc/${d.proc.pid}/status`, 'utf8'))![1]);
  const idleThreads = await threads();
  for (const b of bad) {
    const file = path.join(work, b.name);
    await b.make(file);
    const up = await upload(file, b.name);
    assert.equal(up.status, 400, `${b.name}: ${JSON.stringify(up.body)}`);
    assert.match(String(up.body.args.message), b.error, b.name);
    assert.deepEqual((await storeFiles()).filter((f) => !['alpine.ova', 'appliance.ova', 'legacy.ova'].includes(f)), [], b.name);
  }
  // The same checks run on a fetch, as a failed task that leaves nothing behind.
  await writeFile(path.join(importDir, 'tampered.ova'), await readFile(path.join(work, 'tampered.ova')));
  const r = await admin.call<{ fetch: { queueid: string; path: string } }>('sysadm', 'image', { action: 'fetch', url: `file://${importDir}/tampered.ova` });
  const done = await finished(r.fetch.queueid);
  assert.equal(done.result, 'failed');
  assert.match(done.error ?? '', /does not match the manifest/);
  assert.deepEqual([done.code, done.reason], [400, 'bad_request']);
  assert.deepEqual((await storeFiles()).filter((f) => !['alpine.ova', 'appliance.ova', 'legacy.ova'].includes(f)), []);
  // An upload over the size limit is refused before it is read.
  const big = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${d.url}/upload/ova/huge.ova`, { method: 'PUT', headers: { Authorization: basic(), 'Content-Length': String(2 ** 40) } }, (res) => resolve(res.statusCode ?? 0));
    req.on('error', reject);
    req.write('x');
  });
  assert.equal(big, 413);
  // A client that goes away half way leaves nothing either.
  const cut = http.request(`${d.url}/upload/ova/gone.ova`, { method: 'PUT', headers: { Authorization: basic(), 'Content-Length': '10000000' } });
  cut.on('error', () => {});
  cut.write(Buffer.alloc(300_000));
  await waitFor(async () => (await storeFiles()).some((f) => f.startsWith('.gone.ova.part-upload-')), 'the upload to reach the store');
  cut.destroy();
  await waitFor(async () => (await storeFiles()).every((f) => !f.includes('gone')), 'the cut-off upload to be removed');
  await waitFor(async () => (await threads()) <= idleThreads, `the daemon back to its ${idleThreads} threads (no upload check left running)`);
});

test('fetch by URL (file:// import), rename, delete; paths never leave the store', async () => {
  await writeFile(path.join(importDir, 'copy.ova'), await readFile(path.join(work, 'legacy.ova')));
  const r = await admin.call<{ fetch: { queueid: string; path: string } }>('sysadm', 'image', { action: 'fetch', url: `file://${importDir}/copy.ova` });
  assert.equal(r.fetch.path, 'images/copy.ova');
  assert.equal((await finished(r.fetch.queueid)).result, 'success');
  await admin.call('sysadm', 'image', { action: 'rename', source: 'images/copy.ova', target: 'default/copy2.ova' });
  const list = await admin.call<{ images: { path: string }[] }>('sysadm', 'image', { action: 'list', sort: 'path' });
  assert.ok(list.images.some((x) => x.path === 'default/copy2.ova'));
  assert.deepEqual(await admin.call('sysadm', 'image', { action: 'delete', path: 'default/copy2.ova' }), { path: 'default/copy2.ova', deleted: true });
  await assert.rejects(admin.call('sysadm', 'image', { action: 'delete', path: 'default/copy2.ova' }), (e: CallError) => e.code === 404);
  for (const p of ['../x.ova', 'images/../../users.json', 'images/x.iso', '/etc/x.ova', 'images/.hidden.ova']) {
    await assert.rejects(admin.call('sysadm', 'image', { action: 'info', path: p }), (e: CallError) => e.code === 400 && JSON.stringify(e.details).includes('/args/path'), p);
  }
  const up = await fetch(`${d.url}/upload/ova/..%2F..%2Fx.ova`, { method: 'PUT', headers: { Authorization: basic() }, body: 'x' });
  assert.equal(up.status, 400);
});

test('permissions: image.view lists and reads, image.manage changes; a group grant reaches only its folder', async () => {
  const add = async (name: string, ...args: string[]) => {
    const r = await runHyved(['user', 'add', name, '--password-stdin', ...args, '--config', d.configFile], 'pass-word-1\n');
    assert.equal(r.code, 0, r.stderr);
    return d.client(name, 'pass-word-1');
  };
  const viewer = await add('viewer', '--perm', 'image.view');
  const grouper = await add('grouper', '--group', 'small', '--perm', 'image.view', '--perm', 'image.manage');
  const nobody = await add('nobody', '--perm', 'nic.list');
  const other = await add('other', '--group', 'default', '--perm', 'image.view');
  try {
    const seen = await viewer.call<{ images: { path: string }[] }>('sysadm', 'image', { action: 'list' });
    assert.ok(seen.images.some((x) => x.path === 'images/legacy.ova'));
    await assert.rejects(viewer.call('sysadm', 'image', { action: 'delete', path: 'images/legacy.ova' }), (e: CallError) => e.code === 403);
    await assert.rejects(nobody.call('sysadm', 'image', { action: 'list' }), (e: CallError) => e.code === 403);
    // A group grant: its own folder only; the shared folder needs the grant held globally.
    await assert.rejects(grouper.call('sysadm', 'image', { action: 'fetch', url: `file://${importDir}/copy.ova` }), (e: CallError) => e.code === 403 || e.code === 404);
    const r = await grouper.call<{ fetch: { queueid: string; path: string } }>('sysadm', 'image', { action: 'fetch', url: `file://${importDir}/copy.ova`, path: 'small/mine.ova' });
    await waitFor(async () => (await readdir(path.join(d.stateDir, 'images', 'ova', 'small')).catch(() => [] as string[])).includes('mine.ova'), 'small/mine.ova', 20_000);
    // Shared images are seen with image.view anywhere; a group's only with a grant on that group.
    const mine = await grouper.call<{ images: { path: string }[] }>('sysadm', 'image', { action: 'list', sort: 'path' });
    assert.deepEqual(mine.images.map((x) => x.path), ['images/alpine.ova', 'images/appliance.ova', 'images/legacy.ova', 'small/mine.ova']);
    const theirs = await other.call<{ images: { path: string }[] }>('sysadm', 'image', { action: 'list' });
    assert.ok(!theirs.images.some((x) => x.path === 'small/mine.ova'));
    await assert.rejects(other.call('sysadm', 'image', { action: 'info', path: 'small/mine.ova' }), (e: CallError) => e.code === 404);
    await assert.rejects(other.call('sysadm', 'image', { action: 'delete', path: 'images/legacy.ova' }), (e: CallError) => e.code === 403);
    assert.equal(r.fetch.path, 'small/mine.ova');
    await grouper.call('sysadm', 'image', { action: 'delete', path: 'small/mine.ova' });
  } finally {
    for (const c of [viewer, grouper, nobody, other]) c.close();
  }
});
