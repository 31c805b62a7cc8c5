import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CallError, type HyvedClient } from '../src/client/client.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { fixture } from './helpers/ova.js';
import { LOOPBACK } from './helpers/servers.js';
import { waitFor } from './helpers/wait.js';

const run = promisify(execFile);

interface Finished { process_id: string; state: string; result?: string; error?: string; code?: number; reason?: string }
interface Nic { type: string; host?: string; host_loopback?: boolean }

let d: TestDaemon;
let admin: HyvedClient;
let vmdk: Buffer;
/** Paths the loopback server was asked for. */
const requested: string[] = [];
/** What the loopback server serves, by path. */
const files = new Map<string, Buffer>();
let server: http.Server;
let base: string;
const events: Finished[] = [];

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * VMware's OVF 1.0 (the hand-written fixture) with `href` for its disc and a second network,
 * "Storage Net", with a second NIC on it: two networks for deploy to map.
 */
async function descriptor(href: string, size: number | null = vmdk.length): Promise<string> {
  const nic2 = `<Item>
        <rasd:AddressOnParent>8</rasd:AddressOnParent>
        <rasd:Connection>Storage Net</rasd:Connection>
        <rasd:ElementName>Network adapter 2</rasd:ElementName>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware"`;
  return (await fixture('vmware-1.0.ovf'))
    .replace(/ovf:href="[^"]+" ovf:id="file1" ovf:size="\d+"/, `ovf:href="${href}" ovf:id="file1"${size === null ? '' : ` ovf:size="${size}"`}`)
    .replace('</NetworkSection>', '  <Network ovf:name="Storage Net">\n      <Description>Storage</Description>\n    </Network>\n  </NetworkSection>')
    .replace('<vmw:Config ovf:required="false" vmw:key="firmware"', nic2);
}

/** Serves `ovf` (and `disc` beside it, and a SHA256 manifest unless `manifest` is false) under /<dir>/. */
function serve(dir: string, name: string, ovf: string, disc: { href: string; bytes: Buffer } | null, manifest: string | false = '') {
  files.set(`/${dir}/${name}.ovf`, Buffer.from(ovf));
  if (disc) files.set(`/${dir}/${disc.href}`, disc.bytes);
  if (manifest !== false) {
    const lines = manifest || `SHA256(${name}.ovf)= ${sha256(ovf)}\n${disc ? `SHA256(${disc.href})= ${sha256(disc.bytes)}\n` : ''}`;
    files.set(`/${dir}/${name}.mf`, Buffer.from(lines));
  }
  return `${base}/${dir}/${name}.ovf`;
}

before(async () => {
  const work = await tempDir('hyved-ovf-');
  const qcow2 = path.join(work, 'source.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '16M']);
  await run('qemu-io', ['-c', 'write -P 0xab 0 1M', qcow2]);
  await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', qcow2, path.join(work, 'disk.vmdk')]);
  vmdk = await readFile(path.join(work, 'disk.vmdk'));
  server = http.createServer((req, res) => {
    requested.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (!body) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  d = await startDaemon({ iso: { allow_private: LOOPBACK }, nics: { lan0: { interface: 'hyvtestbr0', description: 'test bridge' } }, images: { max_member_bytes: 4 * 1024 * 1024 } });
  admin = await d.client();
  admin.on('event', (name: string, args: Finished) => name === 'dispatcher' && events.push(args));
  await admin.call('events', 'subscribe', ['dispatcher']);
});

after(async () => {
  admin?.close();
  await d?.stop();
  server?.close();
});

const finished = (id: string) => waitFor(() => events.find((e) => e.process_id === id && e.state === 'finished'), `task ${id}`, 120_000);

async function fetchImage(url: string, extra: Record<string, unknown> = {}): Promise<Finished> {
  const r = await admin.call<{ fetch: { queueid: string } }>('sysadm', 'image', { action: 'fetch', url, ...extra });
  return finished(r.fetch.queueid);
}

const shared = () => readdir(path.join(d.stateDir, 'images', 'ova', 'images'));

test('fetch of a bare .ovf by URL: the descriptor, the disc its References name and its manifest, checked, into the store', async () => {
  const url = serve('app', 'appliance', await descriptor('appliance-disk1.vmdk'), { href: 'appliance-disk1.vmdk', bytes: vmdk });
  const done = await fetchImage(url);
  assert.equal(done.result, 'success', done.error);
  assert.deepEqual((await shared()).sort(), ['appliance-disk1.vmdk', 'appliance.mf', 'appliance.ovf']);
  assert.ok((await readFile(path.join(d.stateDir, 'images', 'ova', 'images', 'appliance-disk1.vmdk'))).equals(vmdk));
  const info = await admin.call<{ descriptor: { systems: { cpus: number; memory_mib: number; firmware: string; discs: { capacity_bytes: number }[] }[] }; networks: unknown }>('sysadm', 'image', { action: 'info', path: 'images/appliance.ovf' });
  const s = info.descriptor.systems[0];
  assert.deepEqual([s.cpus, s.memory_mib, s.firmware, s.discs[0].capacity_bytes], [2, 384, 'EFI', 16 * 2 ** 20]);
  // info names each network and the NIC items connected to it.
  assert.deepEqual(info.networks, [
    { name: 'VM Network', listed: true, connected: [{ system: 'appliance', nic: 'Network adapter 1' }] },
    { name: 'Storage Net', listed: true, connected: [{ system: 'appliance', nic: 'Network adapter 2' }] },
  ]);

  // Without a manifest on the server: fetched all the same (the 404 for it is not an error).
  const plain = await fetchImage(serve('plain', 'plain', await descriptor('plain-disk.vmdk'), { href: 'plain-disk.vmdk', bytes: vmdk }, false));
  assert.equal(plain.result, 'success', plain.error);
  assert.ok((await shared()).includes('plain.ovf') && !(await shared()).includes('plain.mf'));
  // A stored .ovf keeps its name: its manifest names it.
  await assert.rejects(admin.call('sysadm', 'image', { action: 'fetch', url, path: 'images/other.ovf' }), (e: CallError) => e.code === 400 && JSON.stringify(e.details).includes('/args/path'));
  // The files beside it are another image's: not replaced without overwrite.
  const clash = await fetchImage(serve('clash', 'clash', await descriptor('appliance-disk1.vmdk'), { href: 'appliance-disk1.vmdk', bytes: vmdk }));
  assert.deepEqual([clash.result, clash.code], ['failed', 409]);
  assert.match(clash.error ?? '', /appliance-disk1\.vmdk' already exists/);
});

test('fetch of a bare .ovf: references to another host or outside its folder, a tampered disc, an oversize file: 4xx task failures, nothing left', async () => {
  const before = (await shared()).sort();
  const cases: [string, string, RegExp, number][] = [];
  const other = `http://127.0.0.2:${new URL(base).port}/x/elsewhere.vmdk`;
  cases.push(['host', serve('h', 'host', await descriptor(other), null), /References\/File\[file1\]\/@href: .*not a plain file name/, 400]);
  cases.push(['dotdot', serve('dd/sub', 'dotdot', await descriptor('../secret.vmdk'), null), /References\/File\[file1\]\/@href: '\.\.\/secret\.vmdk'/, 400]);
  files.set('/dd/secret.vmdk', vmdk);
  const tampered = Buffer.from(vmdk);
  tampered[tampered.length - 600] ^= 0xff;
  const tOvf = await descriptor('tampered-disk.vmdk');
  cases.push(['tampered', serve('t', 'tampered', tOvf, { href: 'tampered-disk.vmdk', bytes: tampered }, `SHA256(tampered.ovf)= ${sha256(tOvf)}\nSHA256(tampered-disk.vmdk)= ${sha256(vmdk)}\n`), /SHA256 of 'tampered-disk\.vmdk' does not match the manifest/, 400]);
  // The server sends more than the File's size says: stopped at the size.
  cases.push(['liar', serve('l', 'liar', await descriptor('liar-disk.vmdk', 4096), { href: 'liar-disk.vmdk', bytes: vmdk }), /liar-disk\.vmdk: larger than 4096 bytes/, 413]);
  // No size given: bounded by images.max_member_bytes.
  cases.push(['huge', serve('u', 'huge', await descriptor('huge-disk.vmdk', null), { href: 'huge-disk.vmdk', bytes: Buffer.alloc(5 * 1024 * 1024) }), /huge-disk\.vmdk: larger than 4194304 bytes/, 413]);
  cases.push(['entity', serve('e', 'entity', (await fixture('external-entity.ovf')), null), /DOCTYPE/i, 400]);
  // More References than images.max_members allows: refused before any of them is fetched.
  const many = Array.from({ length: 70 }, (_, i) => `<File ovf:href="many-${i}.vmdk" ovf:id="many${i}"/>`).join('');
  cases.push(['many', serve('m', 'many', (await descriptor('many-disk.vmdk')).replace('</References>', `${many}</References>`), null), /References lists 71 files.*images\.max_members \(64\)/, 400]);
  for (const [what, url, error, code] of cases) {
    const done = await fetchImage(url);
    assert.equal(done.result, 'failed', what);
    assert.equal(done.code, code, `${what}: ${done.error}`);
    assert.match(done.error ?? '', error, what);
  }
  assert.ok(!requested.some((p) => p.includes('secret') || p.includes('elsewhere') || p.includes('many-')), requested.join(' '));
  await waitFor(async () => (await shared()).sort().join() === before.join(), 'nothing left in the store', 10_000);
  assert.deepEqual((await readdir(path.join(d.stateDir, 'images', 'ova'))).sort(), ['images']);
});

test('deploy maps OVF networks to host NICs: mapped ones as given, the rest NAT; an unknown network or host NIC is refused', async () => {
  const deploy = async (name: string, networks?: Record<string, Nic>) => {
    const r = await admin.call<{ deploy: { queueid: string } }>('sysadm', 'image', { action: 'deploy', path: 'images/appliance.ovf', gid: 'default', name, ...(networks ? { networks } : {}) });
    const done = await finished(r.deploy.queueid);
    assert.equal(done.result, 'success', done.error);
    const { vms } = await admin.call<{ vms: { vmid: string; name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
    const vmid = vms.find((v) => v.name === name)!.vmid;
    return (await admin.call<{ nics: Nic[] }>('sysadm', 'vm', { action: 'info', vmid })).nics.map(({ type, host, host_loopback }) => ({ type, host, host_loopback }));
  };
  const mapped = await deploy('mapped', { 'VM Network': { type: 'BRIDGE', host: 'lan0' } });
  assert.deepEqual(mapped, [
    { type: 'BRIDGE', host: 'lan0', host_loopback: undefined },
    { type: 'NAT', host: undefined, host_loopback: undefined },
  ]);
  const both = await deploy('both', { 'Storage Net': { type: 'BRIDGE', host: 'lan0' }, 'VM Network': { type: 'NAT', host_loopback: false } });
  assert.deepEqual(both, [
    { type: 'NAT', host: undefined, host_loopback: false },
    { type: 'BRIDGE', host: 'lan0', host_loopback: undefined },
  ]);
  assert.deepEqual((await deploy('plain')).map((n) => n.type), ['NAT', 'NAT']);

  const refused = (networks: Record<string, Nic>) => admin.call('sysadm', 'image', { action: 'deploy', path: 'images/appliance.ovf', gid: 'default', name: 'no', networks });
  await assert.rejects(refused({ Nope: { type: 'NAT' } }), (e: CallError) => e.code === 400 && /networks\/Nope: the descriptor has no network 'Nope' \(it has 'VM Network', 'Storage Net'\)/.test(e.message) && JSON.stringify(e.details).includes('/args/networks/Nope'));
  await assert.rejects(refused({ 'VM Network': { type: 'BRIDGE', host: 'wan9' } }), (e: CallError) => e.code === 404 && /networks\/VM Network\/host: no host NIC with NICID 'wan9'/.test(e.message));
  await assert.rejects(refused({ 'VM Network': { type: 'BRIDGE' } }), (e: CallError) => e.code === 400 && /networks\/VM Network\/host/.test(e.message));
  await assert.rejects(refused({ 'VM Network': { type: 'WIFI' } as unknown as Nic }), (e: CallError) => e.code === 400 && JSON.stringify(e.details).includes('networks'));
  const { vms } = await admin.call<{ vms: { name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
  assert.ok(!vms.some((v) => v.name === 'no'));
});
