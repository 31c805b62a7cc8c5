import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NAT_LINK_FD, guardedNics, qemuArgv, runtimePaths } from '../../src/hypervisor/qemu/argv.js';
import type { LaunchPlan, VmDefinition } from '../../src/hypervisor/types.js';

function plan(def: Partial<VmDefinition>, extra: Partial<LaunchPlan> = {}): LaunchPlan {
  const full: VmDefinition = {
    vmid: 'abcdefghijkl', name: 'vm', gid: 'default', type: 'BIOS', cpus: 2, memory_mib: 1024, displays: [], media: [], nics: [],
    discs: [], autostart: false, description: '', rosetta: false, created: '', ...def,
  };
  return { def: full, dir: '/state/vms/abcdefghijkl', discPaths: [], mediaPaths: [], bridges: [], accelerator: 'tcg', consoleLog: '/state/vms/abcdefghijkl/console/serial-0.log', ...extra };
}

const devices = (argv: string[]) => argv.flatMap((a, i) => (argv[i - 1] === '-device' ? [a] : []));

test('a plain VM: paused at start, daemonized, QMP and console sockets in its directory', () => {
  const a = qemuArgv(plan({}));
  for (const flag of ['-S', '-daemonize', '-nodefaults', '-no-user-config']) assert.ok(a.includes(flag), flag);
  assert.equal(a[a.indexOf('-smp') + 1], '2');
  assert.equal(a[a.indexOf('-m') + 1], '1024M');
  assert.equal(a[a.indexOf('-machine') + 1], 'q35,accel=tcg');
  assert.equal(a[a.indexOf('-qmp') + 1], 'unix:/state/vms/abcdefghijkl/qmp.sock,server=on,wait=off');
  assert.match(a[a.indexOf('-name') + 1], /process=hyved-abcdefghijkl/);
  assert.ok(a.includes('-display') && !a.includes('-vnc'));
});

test('boot order: disc first by default, the first CD first for an install, none with a direct kernel', () => {
  const withCd = { discPaths: ['/d/disk0.qcow2'], mediaPaths: ['/i/x.iso'] };
  const media = [{ mid: 'x.iso', mode: 'BLOCK' as const, readonly: true }];
  assert.deepEqual(devices(qemuArgv(plan({ media }, withCd))).filter((d) => d.includes('bootindex')), [
    'virtio-blk-pci,drive=disc0,id=disc0-dev,bootindex=0',
    'ide-cd,drive=media0,bus=ide.0,id=media0-dev,bootindex=1',
  ]);
  assert.deepEqual(devices(qemuArgv(plan({ media, boot: 'cd' }, withCd))).filter((d) => d.includes('bootindex')), [
    'virtio-blk-pci,drive=disc0,id=disc0-dev,bootindex=1',
    'ide-cd,drive=media0,bus=ide.0,id=media0-dev,bootindex=0',
  ]);
  const direct = qemuArgv(plan({ media, kernel: 'k' }, { ...withCd, kernelPath: '/b/k' }));
  assert.equal(devices(direct).filter((d) => d.includes('bootindex')).length, 0);
  assert.equal(direct[direct.indexOf('-kernel') + 1], '/b/k');
});

test('media modes map to usb-storage, ide-cd/virtio-blk and virtio-scsi; read-only is honoured', () => {
  const a = qemuArgv(plan(
    {
      media: [
        { mid: 'a.iso', mode: 'USB', readonly: false },
        { mid: 'b.img', mode: 'BLOCK', readonly: true },
        { mid: 'c.qcow2', mode: 'VIRTIO', readonly: false },
      ],
    },
    { mediaPaths: ['/i/a.iso', '/i/b.img', '/i/c.qcow2'] },
  ));
  const drives = a.flatMap((x, i) => (a[i - 1] === '-drive' ? [x] : []));
  assert.deepEqual(drives, [
    'file=/i/a.iso,if=none,id=media0,format=raw,media=cdrom,readonly=on',
    'file=/i/b.img,if=none,id=media1,format=raw,readonly=on',
    'file=/i/c.qcow2,if=none,id=media2,format=qcow2',
  ]);
  assert.deepEqual(devices(a), [
    'virtio-serial-pci,id=vserial0',
    'virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0',
    'qemu-xhci,id=xhci',
    'usb-storage,drive=media0,bus=xhci.0,id=media0-dev',
    'virtio-blk-pci,drive=media1,id=media1-dev',
    'virtio-scsi-pci,id=scsi0',
    'scsi-hd,drive=media2,bus=scsi0.0,id=media2-dev',
  ]);
});

test('every VM gets the guest agent port: a virtserialport named org.qemu.guest_agent.0 on qga.sock in its directory', () => {
  for (const a of [qemuArgv(plan({})), qemuArgv(plan({ type: 'EFI' }, { firmware: { code: '/c', varsTemplate: '/v' } }))]) {
    const chardevs = a.flatMap((x, i) => (a[i - 1] === '-chardev' ? [x] : []));
    assert.ok(chardevs.includes('socket,id=qga0,path=/state/vms/abcdefghijkl/qga.sock,server=on,wait=off'), chardevs.join(' '));
    assert.ok(devices(a).includes('virtio-serial-pci,id=vserial0'));
    assert.ok(devices(a).includes('virtserialport,bus=vserial0.0,chardev=qga0,name=org.qemu.guest_agent.0'));
  }
  assert.equal(runtimePaths('/s/v').qga, '/s/v/qga.sock');
  const commas = qemuArgv(plan({}, { dir: '/s,t' }));
  assert.ok(commas.includes('socket,id=qga0,path=/s,,t/qga.sock,server=on,wait=off'));
});

test('commas in paths are doubled so they cannot add QEMU options', () => {
  const a = qemuArgv(plan({ discs: [{ label: 'd', size_mib: 1, storage_grade: 's' }] }, { discPaths: ['/x,format=raw/d.qcow2'], dir: '/s,t' }));
  assert.ok(a.includes('file=/x,,format=raw/d.qcow2,if=none,id=disc0,format=qcow2,discard=unmap'));
  assert.equal(a[a.indexOf('-qmp') + 1], 'unix:/s,,t/qmp.sock,server=on,wait=off');
});

test('displays get a VGA of their size and a VNC unix socket; EFI gets pflash code and vars', () => {
  const a = qemuArgv(plan({ displays: [{ name: 'm', width: 1280, height: 800 }], type: 'EFI' }, { firmware: { code: '/fw/CODE.fd', varsTemplate: '/fw/VARS.fd' } }));
  assert.ok(devices(a).includes('VGA,xres=1280,yres=800'));
  assert.equal(a[a.indexOf('-vnc') + 1], 'unix:/state/vms/abcdefghijkl/vnc.sock');
  const drives = a.flatMap((x, i) => (a[i - 1] === '-drive' ? [x] : []));
  assert.deepEqual(drives, [
    'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
    'if=pflash,format=raw,unit=1,file=/state/vms/abcdefghijkl/efivars.fd',
  ]);
});

test('NAT nics: passt over an inherited descriptor by default, QEMU slirp only with host_loopback; bridges as before', () => {
  const a = qemuArgv(plan(
    {
      nics: [
        { type: 'NAT' },
        { type: 'NAT', host_loopback: true },
        { type: 'BRIDGE', host: 'lan' },
        { type: 'NAT', host_loopback: false },
      ],
    },
    { bridges: [null, null, 'br0', null] },
  ));
  const netdevs = a.flatMap((x, i) => (a[i - 1] === '-netdev' ? [x] : []));
  assert.deepEqual(netdevs, [
    'stream,id=net0,server=off,addr.type=fd,addr.str=3',
    'user,id=net1',
    'bridge,id=net2,br=br0',
    'stream,id=net3,server=off,addr.type=fd,addr.str=4',
  ]);
  assert.deepEqual(devices(a).filter((d) => d.startsWith('virtio-net')), [0, 1, 2, 3].map((i) => `virtio-net-pci,netdev=net${i},id=net${i}-dev`));
  assert.deepEqual(guardedNics(plan({ nics: [{ type: 'NAT' }, { type: 'NAT', host_loopback: true }, { type: 'BRIDGE', host: 'x' }, { type: 'NAT' }] }).def), [0, 3]);
  assert.equal(NAT_LINK_FD, 3);
});
