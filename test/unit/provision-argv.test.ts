import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemuArgv } from '../../src/hypervisor/qemu/argv.js';
import { bhyveArgv } from '../../src/hypervisor/bhyve/argv.js';
import { userNet, userNetOptions, userNetProblem } from '../../src/hypervisor/qemu/user-net.js';
import type { LaunchPlan, VmDefinition } from '../../src/hypervisor/types.js';

function plan(def: Partial<VmDefinition>, extra: Partial<LaunchPlan> = {}): LaunchPlan {
  const full: VmDefinition = {
    vmid: 'abcdefghijkl', name: 'vm', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 256, displays: [], media: [], nics: [],
    discs: [], autostart: false, description: '', rosetta: false, created: '', ...def,
  };
  return { def: full, dir: '/state/vms/abcdefghijkl', discPaths: [], mediaPaths: [], bridges: [], accelerator: 'tcg', consoleLog: '/state/vms/abcdefghijkl/console/serial-0.log', ...extra };
}

const after = (argv: string[], flag: string) => argv.flatMap((a, i) => (argv[i - 1] === flag ? [a] : []));

test('the seed is a read-only raw drive on virtio-blk, after the discs', () => {
  const a = qemuArgv(plan({ discs: [{ label: 'root', size_mib: 8, storage_grade: 's' }] }, { discPaths: ['/d/root.qcow2'], seedPath: '/state/vms/abcdefghijkl/seed.img' }));
  assert.deepEqual(after(a, '-drive').at(-1), 'file=/state/vms/abcdefghijkl/seed.img,if=none,id=seed,format=raw,readonly=on');
  assert.deepEqual(after(a, '-device').filter((d) => d.includes('seed')), ['virtio-blk-pci,drive=seed,id=seed-dev']);
  assert.ok(after(a, '-device').indexOf('virtio-blk-pci,drive=seed,id=seed-dev') > after(a, '-device').findIndex((d) => d.includes('drive=disc0')));
  assert.ok(!qemuArgv(plan({})).some((x) => x.includes('seed')));
});

test('NAT nic with a fixed IPv4 on QEMU\'s user-net (host_loopback): the net around it, the address as dhcpstart; the stable MAC on the device', () => {
  const def = { nics: [{ type: 'NAT' as const, mac: '52:54:00:0a:0b:0c', host_loopback: true }, { type: 'NAT' as const, host_loopback: true }], ips: { ipv4: '192.168.77.10' } };
  const a = qemuArgv(plan(def, { natPrefix: 24 }));
  assert.deepEqual(after(a, '-netdev'), ['user,id=net0,net=192.168.77.0/24,dhcpstart=192.168.77.10', 'user,id=net1']);
  assert.deepEqual(after(a, '-device').filter((d) => d.startsWith('virtio-net')), ['virtio-net-pci,netdev=net0,id=net0-dev,mac=52:54:00:0a:0b:0c', 'virtio-net-pci,netdev=net1,id=net1-dev']);
  assert.equal(after(qemuArgv(plan({ nics: [{ type: 'NAT', host_loopback: true }] })), '-netdev')[0], 'user,id=net0');
});

test('user-net arithmetic: gateway .2, DNS .3 of the network; refused addresses named', () => {
  assert.deepEqual(userNet('10.1.2.200', 24), { net: '10.1.2.0', prefix: 24, gateway: '10.1.2.2', dns: '10.1.2.3', address: '10.1.2.200' });
  assert.deepEqual(userNet('172.16.5.9', 16), { net: '172.16.0.0', prefix: 16, gateway: '172.16.0.2', dns: '172.16.0.3', address: '172.16.5.9' });
  assert.equal(userNetOptions(undefined, 24), '');
  for (const bad of ['10.0.2.0', '10.0.2.2', '10.0.2.3', '10.0.2.255']) assert.match(userNetProblem(bad, 24)!, /network, gateway, DNS or broadcast/);
  assert.equal(userNetProblem('10.0.2.4', 24), null);
});

test('bhyve: the seed read-only on virtio-blk, the MAC on virtio-net', () => {
  const a = bhyveArgv(plan({ nics: [{ type: 'BRIDGE', host: 'lan', mac: '52:54:00:01:02:03' }] }, { seedPath: '/s/seed.img' }), { taps: ['tap0'], console: '/dev/nmdm0A', bootrom: { code: '/u/code.fd', vars: '/u/vars.fd' } });
  const slots = after(a, '-s');
  assert.ok(slots.some((s) => s.endsWith('virtio-blk,/s/seed.img,ro')), slots.join(' '));
  assert.ok(slots.some((s) => s.endsWith('virtio-net,tap0,mac=52:54:00:01:02:03')), slots.join(' '));
});

test('network-config nics: the first gets the fixed IPs (with QEMU\'s gateway and DNS on NAT, none on BRIDGE), the others DHCP', async () => {
  const { seedNics, checkIps } = await import('../../src/classes/vm/provisioning.js');
  const base = plan({}).def;
  const nat = { ...base, nics: [{ type: 'NAT' as const, mac: '52:54:00:00:00:01' }, { type: 'NAT' as const, mac: '52:54:00:00:00:02' }], ips: { ipv4: '10.0.2.50', ipv6: 'fd00::5' } };
  assert.deepEqual(seedNics(nat, 24), [
    { mac: '52:54:00:00:00:01', addresses: ['10.0.2.50/24', 'fd00::5/64'], gateway4: '10.0.2.2', nameservers: ['10.0.2.3'] },
    { mac: '52:54:00:00:00:02', addresses: [] },
  ]);
  const bridge = { ...base, nics: [{ type: 'BRIDGE' as const, host: 'lan', mac: '52:54:00:00:00:03' }], ips: { ipv4: '192.168.1.20' } };
  assert.deepEqual(seedNics(bridge, 24), [{ mac: '52:54:00:00:00:03', addresses: ['192.168.1.20/24'] }]);
  assert.throws(() => checkIps({ nics: [], ips: { ipv4: '10.0.2.50' } }, 24), /need a nic/);
  assert.throws(() => checkIps({ nics: [{ type: 'NAT' }], ips: { ipv4: '10.0.2.3' } }, 24), /DNS/);
  assert.doesNotThrow(() => checkIps({ nics: [{ type: 'BRIDGE', host: 'lan' }], ips: { ipv4: '192.168.1.1' } }, 24));
});
