import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../../src/core/errors.js';
import { parseOvf } from '../../src/provision/ovf/descriptor.js';
import { parseManifest } from '../../src/provision/ovf/manifest.js';
import { readOva, type OvaLimits } from '../../src/provision/ovf/ova.js';
import { writeOvaFile } from '../../src/provision/ovf/pack.js';
import { byteUnits } from '../../src/provision/ovf/units.js';
import { tempDir } from '../helpers/daemon.js';
import { fixture, writeOva, writeTar } from '../helpers/ova.js';

/** Asserts a 400 whose message names `where`. */
function refuses(fn: () => unknown, where: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RpcError, `not an RpcError: ${String(err)}`);
    assert.equal(err.code, 400);
    assert.match(err.message, where);
    return true;
  });
}

async function refusesAsync(p: Promise<unknown>, where: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RpcError, `not an RpcError: ${String(err)}`);
    assert.equal(err.code, 400);
    assert.match(err.message, where);
    return true;
  });
}

test('units: programmatic and named byte units', () => {
  assert.equal(byteUnits('byte * 2^30'), 2 ** 30);
  assert.equal(byteUnits('byte*2^20'), 2 ** 20);
  assert.equal(byteUnits('byte * 10^6'), 1e6);
  assert.equal(byteUnits('byte * 1024'), 1024);
  assert.equal(byteUnits('MegaBytes'), 2 ** 20);
  assert.equal(byteUnits('GB'), 2 ** 30);
  assert.equal(byteUnits('byte'), 1);
  assert.equal(byteUnits('hertz * 10^6'), null);
  assert.equal(byteUnits('byte * 2^999'), null);
});

test('VMware OVF 1.0: CPU, memory, disc capacity, SCSI, CD, NIC, EFI firmware, product properties', async () => {
  const d = parseOvf(await fixture('vmware-1.0.ovf'));
  assert.equal(d.version, '1.x');
  assert.deepEqual(d.files, [{ id: 'file1', href: 'appliance-disk1.vmdk', size: 1048576, compression: null }]);
  assert.equal(d.disks[0].capacity_bytes, 16 * 2 ** 20);
  assert.deepEqual(d.networks, ['VM Network']);
  assert.equal(d.systems.length, 1);
  const s = d.systems[0];
  assert.equal(s.name, 'appliance');
  assert.equal(s.cpus, 2);
  assert.equal(s.memory_mib, 384);
  assert.equal(s.firmware, 'EFI');
  assert.equal(s.os, 'Other Linux (64-bit)');
  assert.equal(s.os_id, 101);
  assert.deepEqual(s.discs, [{ label: 'Hard Disk 1', disk: 'vmdisk1', file: 'file1', capacity_bytes: 16 * 2 ** 20, controller: 'scsi' }]);
  assert.deepEqual(s.nics, [{ label: 'Network adapter 1', network: 'VM Network', adapter: 'VmxNet3' }]);
  assert.equal(s.cdroms, 1);
  assert.deepEqual(s.controllers.sort(), ['ide', 'scsi']);
  assert.deepEqual(s.product, { product: 'Example Appliance', vendor: 'Example Corp', version: '2.1.0' });
  assert.deepEqual(s.properties.map((p) => [p.key, p.value, p.user_configurable]), [
    ['vami.ip0.appliance', '', true],
    ['vami.hostname.appliance', 'appliance.local', true],
  ]);
});

test('VMware OVF 0.9: xsi:type sections, Content, InstanceId/Caption, MegaBytes, /disk/ references', async () => {
  const d = parseOvf(await fixture('vmware-0.9.ovf'));
  assert.equal(d.version, '0.9');
  const s = d.systems[0];
  assert.equal(s.id, 'legacy');
  assert.equal(s.name, 'legacy');
  assert.equal(s.cpus, 1);
  assert.equal(s.memory_mib, 256);
  assert.equal(s.firmware, 'BIOS');
  assert.equal(s.os, 'Other 2.6x Linux');
  assert.deepEqual(s.discs, [{ label: 'disk1', disk: 'vmdisk1', file: 'file1', capacity_bytes: 16777216, controller: 'ide' }]);
  assert.deepEqual(s.nics, [{ label: "Ethernet adapter on 'bridged'", network: 'bridged', adapter: 'PCNet32' }]);
  assert.deepEqual(d.networks, ['bridged']);
});

test('VirtualBox OVF 1.0: SATA (AHCI) disc, IDE CD, E1000, capacity in bytes', async () => {
  const d = parseOvf(await fixture('vbox-1.0.ovf'));
  assert.equal(d.version, '1.x');
  const s = d.systems[0];
  assert.equal(s.cpus, 1);
  assert.equal(s.memory_mib, 1024);
  assert.equal(s.discs[0].capacity_bytes, 8 * 2 ** 30);
  assert.equal(s.discs[0].controller, 'sata');
  assert.equal(s.cdroms, 1);
  assert.equal(s.nics[0].adapter, 'E1000');
  assert.equal(s.firmware, 'BIOS');
  assert.equal(d.files[0].size, null);
});

test('VirtualBox OVF 2.0: StorageItem and EthernetPortItem, EFI from vbox:Machine', async () => {
  const d = parseOvf(await fixture('vbox-2.0.ovf'));
  assert.equal(d.version, '2.x');
  const s = d.systems[0];
  assert.equal(s.cpus, 2);
  assert.equal(s.memory_mib, 512);
  assert.deepEqual(s.discs, [{ label: 'disk1', disk: 'vmdisk1', file: 'file1', capacity_bytes: 32 * 2 ** 20, controller: 'sata' }]);
  assert.deepEqual(s.nics, [{ label: "Ethernet adapter on 'NAT'", network: 'NAT', adapter: 'virtio' }]);
  assert.equal(s.firmware, 'EFI');
});

test('VirtualSystemCollection: every system, its discs (one without a file)', async () => {
  const d = parseOvf(await fixture('collection.ovf'));
  assert.equal(d.collection, 'stack');
  assert.deepEqual(d.systems.map((s) => [s.name, s.cpus, s.memory_mib]), [['web', 1, 256], ['db', 4, 2048]]);
  assert.deepEqual(d.systems[1].discs.map((x) => [x.disk, x.file, x.capacity_bytes]), [['db1', 'file2', 2 * 2 ** 30], ['scratch', null, 512 * 2 ** 20]]);
});

test('DeploymentOptionSection: the default, a chosen configuration, an unknown one refused', async () => {
  const text = await fixture('deployment.ovf');
  const def = parseOvf(text);
  assert.equal(def.configuration, 'small');
  assert.deepEqual(def.deployment_options.map((o) => [o.id, o.default]), [['tiny', false], ['small', true], ['large', false]]);
  assert.deepEqual([def.systems[0].cpus, def.systems[0].memory_mib, def.systems[0].properties[0].value], [4, 10240, 'unset']);
  const tiny = parseOvf(text, { configuration: 'tiny' });
  assert.deepEqual([tiny.systems[0].cpus, tiny.systems[0].memory_mib, tiny.systems[0].properties[0].value], [2, 10240, 't']);
  const large = parseOvf(text, { configuration: 'large' });
  assert.deepEqual([large.systems[0].cpus, large.systems[0].memory_mib], [16, 37 * 1024]);
  refuses(() => parseOvf(text, { configuration: 'huge' }), /DeploymentOptionSection: no deployment option 'huge' \(offered: tiny, small, large\)/);
});

test('untrusted descriptors: entities, traversal, namespaces, malformed XML, depth, units each named', async () => {
  refuses(() => parseOvf(''), /Envelope: not well-formed XML|has no root element/);
  const entity = await fixture('external-entity.ovf');
  refuses(() => parseOvf(entity), /DOCTYPE: document type declarations/);
  const traversal = await fixture('traversal-href.ovf');
  refuses(() => parseOvf(traversal), /References\/File\[file1\]\/@href: '\.\.\/\.\.\/etc\/passwd' is not a plain file name/);
  const v1 = await fixture('vmware-1.0.ovf');
  refuses(() => parseOvf(v1.replaceAll('http://schemas.dmtf.org/ovf/envelope/1', 'http://example.org/ovf/3')), /Envelope: namespace 'http:\/\/example.org\/ovf\/3' is not OVF 0.9, 1.x or 2.x/);
  refuses(() => parseOvf(v1.replace('</Envelope>', '')), /Envelope: not well-formed XML/);
  refuses(() => parseOvf(v1.replace('byte * 2^20"', 'parsecs"')), /DiskSection\/Disk\[vmdisk1\]\/@capacityAllocationUnits: 'parsecs' is not a unit of bytes/);
  refuses(() => parseOvf(v1.replace('ovf:capacity="16"', 'ovf:capacity="${disk.size}"')), /Disk\[vmdisk1\]\/@capacity: '\$\{disk.size\}' is not a number/);
  refuses(() => parseOvf(v1.replace('ovf:/disk/vmdisk1', 'ovf:/disk/vmdisk9')), /Item\[InstanceID=6\]\/HostResource: no disk 'vmdisk9' in DiskSection/);
  refuses(() => parseOvf(v1.replace('ovf:fileRef="file1"', 'ovf:fileRef="file7"')), /Disk\[vmdisk1\]\/@fileRef: no File 'file7' in References/);
  refuses(() => parseOvf(v1.replace('<rasd:VirtualQuantity>384</rasd:VirtualQuantity>', '<rasd:VirtualQuantity>-1</rasd:VirtualQuantity>')), /Item\[InstanceID=2\]\/VirtualQuantity: must be a positive whole number/);
  refuses(() => parseOvf(v1.replace('<rasd:ResourceType>4</rasd:ResourceType>', '<rasd:ResourceType>44</rasd:ResourceType>')), /VirtualHardwareSection: has no memory Item \(ResourceType 4\)/);
  refuses(() => parseOvf(v1.replace('<VirtualSystem ovf:id="appliance">', '<VirtualSystem>')), /VirtualSystem\/@id: is missing/);
  for (const href of ['/etc/passwd', 'http://evil.example/x.vmdk', 'sub/dir.vmdk', 'C:\\x.vmdk']) {
    refuses(() => parseOvf(v1.replace('appliance-disk1.vmdk', href)), /References\/File\[file1\]\/@href/);
  }
  const deep = v1.replace('<Info>A virtual machine</Info>', '<Info>' + '<a>'.repeat(100) + '</a>'.repeat(100) + '</Info>');
  refuses(() => parseOvf(deep), /nested deeper than 64 levels/);
  refuses(() => parseOvf(' '.repeat(5 * 1024 * 1024)), /larger than 4194304 bytes/);
  refuses(() => parseOvf('<a/>'), /a: the root element must be an OVF Envelope/);
});

test('manifest lines: SHA1 and SHA256, malformed lines named', () => {
  const h1 = 'a'.repeat(40);
  const h256 = 'B'.repeat(64);
  assert.deepEqual(parseManifest(`SHA1(x.ovf)= ${h1}\nSHA256(disk 1.vmdk)=${h256}\r\n`), [
    { file: 'x.ovf', algorithm: 'sha1', digest: h1 },
    { file: 'disk 1.vmdk', algorithm: 'sha256', digest: h256.toLowerCase() },
  ]);
  refuses(() => parseManifest('MD5(x)= 00'), /manifest line 1: not a line/);
  refuses(() => parseManifest(`SHA256(x)= ${h1}`), /line 1: a SHA256 digest has 64 hex digits, not 40/);
  refuses(() => parseManifest(`SHA1(x)= ${h1}\nSHA1(x)= ${h1}`), /line 2: 'x' is listed twice/);
});

const LIMITS: OvaLimits = { max_members: 16, max_member_bytes: 64 * 1024 * 1024 };

async function ova(members: Parameters<typeof writeTar>[1]): Promise<string> {
  const file = path.join(await tempDir('hyved-ova-'), 'x.ova');
  await writeTar(file, members);
  return file;
}

test('OVA reader: descriptor first, manifest checked, data offsets that point at each member', async () => {
  const dir = await tempDir('hyved-ova-');
  const file = path.join(dir, 'a.ova');
  const disk = Buffer.alloc(3000, 0xab);
  await writeOva(file, 'a.ovf', await fixture('vmware-1.0.ovf'), [{ name: 'appliance-disk1.vmdk', data: disk }]);
  const got = await readOva(file, LIMITS);
  assert.equal(got.descriptorName, 'a.ovf');
  assert.match(got.descriptor, /appliance-disk1\.vmdk/);
  assert.equal(got.manifest?.length, 2);
  assert.deepEqual(got.members.map((m) => m.name), ['a.ovf', 'a.mf', 'appliance-disk1.vmdk']);
  const m = got.members[2];
  const bytes = await readFile(file);
  assert.deepEqual(bytes.subarray(m.offset, m.offset + m.size), disk);

  // SHA1 manifests, long names (pax headers) too.
  const long = 'x'.repeat(150) + '.vmdk';
  const sha1 = path.join(dir, 'b.ova');
  await writeOva(sha1, 'b.ovf', (await fixture('vmware-1.0.ovf')).replace('appliance-disk1.vmdk', long), [{ name: long, data: disk }], 'SHA1');
  const b = await readOva(sha1, LIMITS);
  assert.equal(b.members[2].name, long);
  assert.deepEqual(bytes.length > 0, true);
});

test('OVA reader: tampering, truncation, links, paths, order, counts and sizes refused with the member named', async () => {
  const dir = await tempDir('hyved-ova-');
  const ovf = await fixture('vmware-1.0.ovf');
  const good = path.join(dir, 'good.ova');
  await writeOva(good, 'a.ovf', ovf, [{ name: 'appliance-disk1.vmdk', data: Buffer.alloc(4096, 1) }]);
  const bytes = await readFile(good);

  const tampered = Buffer.from(bytes);
  const at = bytes.indexOf(Buffer.alloc(64, 1));
  tampered[at + 10] = 2;
  await writeFile(path.join(dir, 't.ova'), tampered);
  await refusesAsync(readOva(path.join(dir, 't.ova'), LIMITS), /SHA256 of 'appliance-disk1.vmdk' does not match the manifest/);

  await writeFile(path.join(dir, 'cut.ova'), bytes.subarray(0, at + 1000));
  await refusesAsync(readOva(path.join(dir, 'cut.ova'), LIMITS), /truncated/);

  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'x', header: { type: 'symlink', linkname: '/etc/passwd' } }]), LIMITS), /member 'x' is a symlink: only regular files/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'x', header: { type: 'link', linkname: 'a.ovf' } }]), LIMITS), /member 'x' is a link/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: '/etc/cron.d/x', data: 'x' }]), LIMITS), /member '\/etc\/cron.d\/x' is an absolute path/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: '../../x.vmdk', data: 'x' }]), LIMITS), /member '..\/..\/x.vmdk' leads out of the image/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'd/x.vmdk', data: 'x' }]), LIMITS), /is in a directory/);
  await refusesAsync(readOva(await ova([{ name: 'x.vmdk', data: 'x' }, { name: 'a.ovf', data: ovf }]), LIMITS), /the first member must be the .ovf descriptor, not 'x.vmdk'/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'x.vmdk', data: 'x' }, { name: 'a.mf', data: '' }]), LIMITS), /manifest 'a.mf' must follow the descriptor/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'x', data: 'x' }, { name: 'x', data: 'y' }]), LIMITS), /member 'x' appears twice/);
  const many = [{ name: 'a.ovf', data: ovf }, ...Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: 'x' }))];
  await refusesAsync(readOva(await ova(many), LIMITS), /more than 16 members/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'big', data: Buffer.alloc(20000) }]), { ...LIMITS, max_member_bytes: 10000 }), /member 'big' is 20000 bytes, over the limit of 10000/);
  await refusesAsync(readOva(await ova([{ name: 'a.ovf', data: ovf }, { name: 'a.mf', data: `SHA256(gone.vmdk)= ${'0'.repeat(64)}\n` }]), LIMITS), /the manifest lists 'gone.vmdk', which is not in the archive/);
  await writeFile(path.join(dir, 'junk.ova'), Buffer.alloc(4096, 0x41));
  await refusesAsync(readOva(path.join(dir, 'junk.ova'), LIMITS), /damaged tar header at byte 0/);
});

test('writing an OVA that is cancelled rejects with the cancel, and leaves no rejection unhandled', async () => {
  const dir = await tempDir();
  const member = path.join(dir, 'disc.vmdk');
  await writeFile(member, Buffer.alloc(1 << 20));
  const unhandled: unknown[] = [];
  const note = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', note);
  try {
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(writeOvaFile(path.join(dir, 'out.ova'), [{ name: 'disc.vmdk', file: member }], stop.signal), { name: 'AbortError' });
    // A rejection nobody handles is reported after the microtasks of the turn that made it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', note);
  }
});
