/**
 * The bhyve argv builder, checked against the EXAMPLES section of bhyve(8) (FreeBSD 13/14 and
 * main, usr.sbin/bhyve/bhyve.8). bhyve cannot run on the Linux CI, so these examples are the
 * reference: each one is rebuilt as a VmDefinition/LaunchPlan and the builder's output is
 * compared with the manual's command line, -s devices as a set (slot numbers differ: ours are
 * sequential from 1 with lpc at 31) and -c/-m/-l/flags/name exactly where they carry over.
 *
 * Deliberate differences from the manual, normalised away in the comparison and nowhere else:
 *  - discs are always virtio-blk (DESIGN §4), so the manual's ahci-hd (and the ports of a
 *    multi-port `ahci` controller) compare as virtio-blk, `cd:` ports as ahci-cd;
 *  - amd_hostbridge compares as hostbridge;
 *  - virtio-net gets no mac= (bhyve derives it from slot, function and VM name) and fbuf no
 *    `wait` (the manual: "can be removed for post-installation use");
 *  - the examples without a boot ROM assume bhyveload(8); hyved always uses a boot ROM, so our
 *    argv has one more -l (bootrom), and an EFI guest always gets its own varfile;
 *  - the VM name is bhyveVmName(def), last, where the manual has its own name last.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bhyveArgv, bhyveOptions, bhyveVmName, bhyvectlDestroyArgv, bhyvectlPoweroffArgv, type BhyveOptions,
} from '../../src/hypervisor/bhyve/argv.js';
import { preferredVncPort } from '../../src/hypervisor/bhyve/vnc.js';
import type { LaunchPlan, VmDefinition } from '../../src/hypervisor/types.js';

const CODE = '/usr/local/share/uefi-firmware/BHYVE_UEFI.fd';

function mkDef(over: Partial<VmDefinition> = {}): VmDefinition {
  return {
    vmid: 'V1StGXR8_Z5jdHi6B-myT',
    name: 'test',
    gid: 'g0',
    type: 'EFI',
    cpus: 1,
    memory_mib: 256,
    displays: [],
    media: [],
    nics: [],
    discs: [],
    autostart: false,
    description: '',
    rosetta: false,
    created: '2024-01-01T00:00:00Z',
    ...over,
  };
}

function mkPlan(def: VmDefinition, over: Partial<LaunchPlan> = {}): LaunchPlan {
  return {
    def,
    dir: '/var/db/hyved/vms/' + def.vmid,
    consoleLog: '/var/db/hyved/vms/' + def.vmid + '/console/serial-0.log',
    discPaths: def.discs.map((_d, i) => `/var/db/hyved/vms/${def.vmid}/disc${i}.img`),
    mediaPaths: def.media.map((m) => `/var/db/hyved/isos/${m.mid}`),
    bridges: def.nics.map(() => null),
    accelerator: 'kvm',
    ...over,
  };
}

function mkOpts(over: Partial<BhyveOptions> = {}): BhyveOptions {
  return {
    console: '/dev/nmdm-testA',
    taps: [],
    bootrom: { code: CODE, vars: '/var/db/hyved/vms/x/efivars.fd' },
    ...over,
  };
}

function disc(label = 'root') {
  return { label, size_mib: 1024, storage_grade: 'standard' };
}

/** A bhyve command line taken apart the way bhyve's getopt sees it. */
interface Parsed {
  flags: Set<string>;
  c?: string;
  m?: string;
  l: string[];
  s: { slot: string; spec: string }[];
  name?: string;
}

const BOOL_FLAGS = new Set('aACDeHhPSuWwxY'.split(''));
const ARG_FLAGS = new Set('cfGkKlmnoprsU'.split(''));

function parse(argv: string[]): Parsed {
  const p: Parsed = { flags: new Set(), l: [], s: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!/^-[A-Za-z]$/.test(a)) break;
    const f = a[1];
    if (BOOL_FLAGS.has(f)) { p.flags.add(f); continue; }
    assert.ok(ARG_FLAGS.has(f), `unknown flag ${a}`);
    const v = argv[++i];
    if (f === 'c') p.c = v;
    else if (f === 'm') p.m = v;
    else if (f === 'l') p.l.push(v);
    else if (f === 's') {
      const comma = v.indexOf(',');
      p.s.push({ slot: v.slice(0, comma), spec: v.slice(comma + 1) });
    }
  }
  const rest = argv.slice(i);
  assert.ok(rest.length <= 1, `operands after the options: ${rest.join(' ')}`);
  p.name = rest[0];
  return p;
}

/** bhyve's -m: a number with an optional K/M/G/T suffix, megabytes when bare. */
function mib(m: string | undefined): number {
  const match = /^(\d+)([KkMmGgTt]?)$/.exec(m ?? '256M');
  assert.ok(match, `bad -m ${m}`);
  const n = Number(match[1]);
  switch (match[2].toUpperCase()) {
    case 'K': return n / 1024;
    case 'G': return n * 1024;
    case 'T': return n * 1024 * 1024;
    default: return n;
  }
}

/** The manual's -s device specs in the form our builder writes them (see the file comment). */
function normalise(spec: string): string[] {
  if (spec === 'amd_hostbridge') return ['hostbridge'];
  if (spec.startsWith('ahci,')) {
    return spec.slice(5).split(',').map((port) => {
      if (port.startsWith('hd:')) return `virtio-blk,${port.slice(3)}`;
      if (port.startsWith('cd:')) return `ahci-cd,${port.slice(3)}`;
      throw new Error(`unexpected ahci port ${port}`);
    });
  }
  if (spec.startsWith('ahci-hd,')) return [`virtio-blk,${spec.slice(8)}`];
  if (spec.startsWith('virtio-net,')) return [spec.split(',').filter((o) => !o.startsWith('mac=')).join(',')];
  if (spec.startsWith('fbuf,')) return [spec.split(',').filter((o) => o !== 'wait').join(',')];
  return [spec];
}

function sorted(a: string[]): string[] {
  return [...a].sort();
}

/** Compare our argv with a manual example (see the file comment for what is normalised). */
function assertMatchesManual(ours: string[], manual: string[], def: VmDefinition) {
  const o = parse(ours);
  const m = parse(manual);

  // Devices: same set, ignoring slot numbers; ours has hostbridge at 0 and lpc at 31.
  assert.deepEqual(sorted(o.s.map((d) => d.spec)), sorted(m.s.flatMap((d) => normalise(d.spec))));
  assert.equal(o.s.find((d) => d.spec === 'hostbridge')?.slot, '0');
  assert.equal(o.s.find((d) => d.spec === 'lpc')?.slot, '31');

  // -c and -m: the same machine (bhyve's default is one CPU, -m is MiB when bare).
  assert.equal(o.c, m.c ?? '1');
  assert.equal(mib(o.m), mib(m.m));
  assert.equal(o.m, `${def.memory_mib}M`);

  // Every flag the manual uses is in ours (-A/-H/-P/-w/-u are always on).
  for (const f of m.flags) assert.ok(o.flags.has(f), `-${f} missing`);

  // -l: com1 exactly; a bootrom in the manual is ours with (EFI) our varfile appended.
  const mCom = m.l.filter((l) => !l.startsWith('bootrom,'));
  const oCom = o.l.filter((l) => !l.startsWith('bootrom,'));
  assert.deepEqual(oCom, mCom);
  const oRom = o.l.filter((l) => l.startsWith('bootrom,'));
  assert.equal(oRom.length, 1);
  const mRom = m.l.find((l) => l.startsWith('bootrom,'));
  if (mRom) assert.ok(oRom[0] === mRom || oRom[0].startsWith(mRom + ','), `${oRom[0]} vs ${mRom}`);

  // The name, last.
  assert.equal(o.name, bhyveVmName(def));
  assert.equal(ours[ours.length - 1], bhyveVmName(def));
  if (m.name !== undefined) assert.equal(manual[manual.length - 1], m.name);
}

// --- bhyve(8) EXAMPLES --------------------------------------------------------------------

test('manual: 1GB two-CPU VM with a virtio-blk image and a serial console', () => {
  // bhyve(8), FreeBSD 13/14:
  //   bhyve -c 2 -s 0,hostbridge -s 1,lpc -s 2,virtio-blk,/my/image \
  //     -l com1,stdio -A -H -P -m 1G vm1
  // (FreeBSD 15 drops the -A, which is now a no-op.)
  const manual = ['-c', '2', '-s', '0,hostbridge', '-s', '1,lpc', '-s', '2,virtio-blk,/my/image',
    '-l', 'com1,stdio', '-A', '-H', '-P', '-m', '1G', 'vm1'];
  const def = mkDef({ cpus: 2, memory_mib: 1024, discs: [disc()] });
  const ours = bhyveArgv(mkPlan(def, { discPaths: ['/my/image'] }), mkOpts({ console: 'stdio' }));
  assertMatchesManual(ours, manual, def);
});

test('manual: 24GB single-CPU VM with three network ports', () => {
  // bhyve(8), FreeBSD 13/14:
  //   bhyve -s 0,hostbridge -s 1,lpc -s 2:0,virtio-net,tap0 \
  //     -s 2:1,virtio-net,tap1 \
  //     -s 2:2,virtio-net,tap2,mac=00:be:fa:76:45:00 \
  //     -s 3,virtio-blk,/my/image -l com1,stdio \
  //     -A -H -P -m 24G bigvm
  const manual = ['-s', '0,hostbridge', '-s', '1,lpc', '-s', '2:0,virtio-net,tap0',
    '-s', '2:1,virtio-net,tap1',
    '-s', '2:2,virtio-net,tap2,mac=00:be:fa:76:45:00',
    '-s', '3,virtio-blk,/my/image', '-l', 'com1,stdio',
    '-A', '-H', '-P', '-m', '24G', 'bigvm'];
  const def = mkDef({
    cpus: 1, memory_mib: 24 * 1024, discs: [disc()],
    nics: [{ type: 'BRIDGE', host: 'uplink' }, { type: 'BRIDGE', host: 'uplink' }, { type: 'NAT' }],
  });
  const ours = bhyveArgv(mkPlan(def, { discPaths: ['/my/image'] }),
    mkOpts({ console: 'stdio', taps: ['tap0', 'tap1', 'tap2'] }));
  assertMatchesManual(ours, manual, def);
  // One function-0 slot per device, deterministic.
  const p = parse(ours);
  assert.deepEqual(p.s.map((d) => `${d.slot},${d.spec}`), [
    '0,hostbridge', '1,virtio-blk,/my/image', '2,virtio-net,tap0', '3,virtio-net,tap1', '4,virtio-net,tap2', '31,lpc',
  ]);
});

test('manual: 8GB quad-CPU VM with 8 AHCI disks, an ATAPI CD-ROM and an nmdm console', () => {
  // bhyve(8), FreeBSD 13/14 (the example names no VM):
  //   bhyve -c 4 \
  //     -s 0,amd_hostbridge -s 1,lpc \
  //     -s 1:0,ahci,hd:/images/disk.1,hd:/images/disk.2,\
  //   hd:/images/disk.3,hd:/images/disk.4,\
  //   hd:/images/disk.5,hd:/images/disk.6,\
  //   hd:/images/disk.7,hd:/images/disk.8,\
  //   cd:/images/install.iso \
  //     -s 3,virtio-net,tap0 \
  //     -l com1,/dev/nmdm0A \
  //     -A -H -P -m 8G
  const manual = ['-c', '4',
    '-s', '0,amd_hostbridge', '-s', '1,lpc',
    '-s', '1:0,ahci,hd:/images/disk.1,hd:/images/disk.2,' +
      'hd:/images/disk.3,hd:/images/disk.4,' +
      'hd:/images/disk.5,hd:/images/disk.6,' +
      'hd:/images/disk.7,hd:/images/disk.8,' +
      'cd:/images/install.iso',
    '-s', '3,virtio-net,tap0',
    '-l', 'com1,/dev/nmdm0A',
    '-A', '-H', '-P', '-m', '8G'];
  const discPaths = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `/images/disk.${n}`);
  const def = mkDef({
    cpus: 4, memory_mib: 8192, discs: discPaths.map((_p, i) => disc(`d${i}`)),
    media: [{ mid: 'install.iso', mode: 'VIRTIO', readonly: true }],
    nics: [{ type: 'NAT' }],
  });
  const ours = bhyveArgv(mkPlan(def, { discPaths, mediaPaths: ['/images/install.iso'] }),
    mkOpts({ console: '/dev/nmdm0A', taps: ['tap0'] }));
  assertMatchesManual(ours, manual, def);
});

test('manual: UEFI VM with an 800x600 VNC display, install ISO, disk and tap', () => {
  // bhyve(8), FreeBSD main (13/14 have `-l com1,stdio`):
  //   bhyve -c 2 -m 4G -w -H \
  //     -s 0,hostbridge \
  //     -s 3,ahci-cd,/path/to/uefi-OS-install.iso \
  //     -s 4,ahci-hd,disk.img \
  //     -s 5,virtio-net,tap0 \
  //     -s 29,fbuf,tcp=0.0.0.0:5900,w=800,h=600,wait \
  //     -s 30,xhci,tablet \
  //     -s 31,lpc -l com1,tcp=127.0.0.1:1234 \
  //     -l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd \
  //      uefivm
  const manual = ['-c', '2', '-m', '4G', '-w', '-H',
    '-s', '0,hostbridge',
    '-s', '3,ahci-cd,/path/to/uefi-OS-install.iso',
    '-s', '4,ahci-hd,disk.img',
    '-s', '5,virtio-net,tap0',
    '-s', '29,fbuf,tcp=0.0.0.0:5900,w=800,h=600,wait',
    '-s', '30,xhci,tablet',
    '-s', '31,lpc', '-l', 'com1,tcp=127.0.0.1:1234',
    '-l', 'bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd',
    'uefivm'];
  const def = mkDef({
    cpus: 2, memory_mib: 4096, discs: [disc()],
    media: [{ mid: 'uefi-OS-install.iso', mode: 'BLOCK', readonly: false }],
    nics: [{ type: 'BRIDGE', host: 'uplink' }],
    displays: [{ name: 'main', width: 800, height: 600 }],
  });
  const ours = bhyveArgv(
    mkPlan(def, { discPaths: ['disk.img'], mediaPaths: ['/path/to/uefi-OS-install.iso'] }),
    mkOpts({ console: 'tcp=127.0.0.1:1234', taps: ['tap0'], vnc: '0.0.0.0:5900' }),
  );
  assertMatchesManual(ours, manual, def);
});

test('manual: UEFI VM with a VNC display bound to all IPv6 addresses', () => {
  // bhyve(8), FreeBSD main (13/14 have `-l com1,stdio`):
  //   bhyve -c 2 -m 4G -w -H \
  //     -s 0,hostbridge \
  //     -s 4,ahci-hd,disk.img \
  //     -s 5,virtio-net,tap0 \
  //     -s 29,fbuf,tcp=[::]:5900,w=800,h=600 \
  //     -s 30,xhci,tablet \
  //     -s 31,lpc -l com1,tcp=[::1]:1234 \
  //     -l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd \
  //      uefivm
  const manual = ['-c', '2', '-m', '4G', '-w', '-H',
    '-s', '0,hostbridge',
    '-s', '4,ahci-hd,disk.img',
    '-s', '5,virtio-net,tap0',
    '-s', '29,fbuf,tcp=[::]:5900,w=800,h=600',
    '-s', '30,xhci,tablet',
    '-s', '31,lpc', '-l', 'com1,tcp=[::1]:1234',
    '-l', 'bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI.fd',
    'uefivm'];
  const def = mkDef({
    cpus: 2, memory_mib: 4096, discs: [disc()], nics: [{ type: 'NAT' }],
    displays: [{ name: 'main', width: 800, height: 600 }],
  });
  const ours = bhyveArgv(mkPlan(def, { discPaths: ['disk.img'] }),
    mkOpts({ console: 'tcp=[::1]:1234', taps: ['tap0'], vnc: '[::]:5900' }));
  assertMatchesManual(ours, manual, def);
});

test('manual: UEFI VM with a VARS file to save EFI variables', () => {
  // bhyve(8), FreeBSD main (the manual's own line lacks the continuation backslash):
  //   bhyve -c 2 -m 4g -w -H \
  //     -s 0,hostbridge \
  //     -s 31,lpc -l com1,stdio \
  //     -l bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI_CODE.fd,BHYVE_UEFI_VARS.fd
  //      uefivm
  const manual = ['-c', '2', '-m', '4g', '-w', '-H',
    '-s', '0,hostbridge',
    '-s', '31,lpc', '-l', 'com1,stdio',
    '-l', 'bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI_CODE.fd,BHYVE_UEFI_VARS.fd',
    'uefivm'];
  const def = mkDef({ cpus: 2, memory_mib: 4096 });
  const ours = bhyveArgv(mkPlan(def), mkOpts({
    console: 'stdio',
    bootrom: { code: '/usr/local/share/uefi-firmware/BHYVE_UEFI_CODE.fd', vars: 'BHYVE_UEFI_VARS.fd' },
  }));
  assertMatchesManual(ours, manual, def);
  // Here the -l lists are identical, bootrom included.
  assert.deepEqual(parse(ours).l, parse(manual).l);
});

test('manual: the config.dump example (256 MiB, -m without a suffix)', () => {
  // bhyve(8), FreeBSD main:
  //   /usr/sbin/bhyve -c 2 -m 256 -H -P \
  //     -s 0:0,hostbridge -s 1:0,virtio-net,tap0 \
  //     -s 2:0,ahci-hd,./vm0.img \
  //     -s 31,lpc -l com1,stdio \
  //     -o config.dump=1 vm0 > configfile
  // (-o config.dump=1 and the redirection only dump the configuration; left out here.)
  const manual = ['-c', '2', '-m', '256', '-H', '-P',
    '-s', '0:0,hostbridge', '-s', '1:0,virtio-net,tap0',
    '-s', '2:0,ahci-hd,./vm0.img',
    '-s', '31,lpc', '-l', 'com1,stdio',
    'vm0'];
  const def = mkDef({ cpus: 2, memory_mib: 256, discs: [disc()], nics: [{ type: 'NAT' }] });
  const ours = bhyveArgv(mkPlan(def, { discPaths: ['./vm0.img'] }), mkOpts({ console: 'stdio', taps: ['tap0'] }));
  assertMatchesManual(ours, manual, def);
});

// --- Rules beyond the examples ----------------------------------------------------------

test('the full argv of a typical EFI guest', () => {
  const def = mkDef({
    cpus: 2, memory_mib: 2048, discs: [disc()],
    media: [{ mid: 'freebsd.iso', mode: 'BLOCK', readonly: true }],
    nics: [{ type: 'BRIDGE', host: 'uplink' }],
    displays: [{ name: 'main', width: 1024, height: 768 }],
  });
  const plan = mkPlan(def, { discPaths: ['/vms/a/disc0.img'], mediaPaths: ['/isos/freebsd.iso'] });
  const argv = bhyveArgv(plan, mkOpts({
    console: '/dev/nmdm-aA', taps: ['tap7'], vnc: '127.0.0.1:5901',
    bootrom: { code: CODE, vars: '/vms/a/efivars.fd' },
  }));
  assert.deepEqual(argv, [
    '-c', '2', '-m', '2048M', '-A', '-H', '-P', '-w', '-u',
    '-s', '0,hostbridge',
    '-s', '1,virtio-blk,/vms/a/disc0.img',
    '-s', '2,ahci-cd,/isos/freebsd.iso',
    '-s', '3,virtio-net,tap7',
    '-s', '4,fbuf,tcp=127.0.0.1:5901,w=1024,h=768',
    '-s', '5,xhci,tablet',
    '-s', '31,lpc',
    '-l', 'com1,/dev/nmdm-aA',
    '-l', `bootrom,${CODE},/vms/a/efivars.fd`,
    bhyveVmName(def),
  ]);
  // The argv never includes the binary, and is a pure function of its inputs.
  assert.notEqual(argv[0], 'bhyve');
  assert.deepEqual(bhyveArgv(plan, mkOpts({
    console: '/dev/nmdm-aA', taps: ['tap7'], vnc: '127.0.0.1:5901',
    bootrom: { code: CODE, vars: '/vms/a/efivars.fd' },
  })), argv);
});

test('EFI: the vars file is the second field of the one -l bootrom argument', () => {
  const def = mkDef();
  const argv = bhyveArgv(mkPlan(def), mkOpts({ bootrom: { code: '/fw/CODE.fd', vars: '/vms/x/VARS.fd' } }));
  const i = argv.indexOf('bootrom,/fw/CODE.fd,/vms/x/VARS.fd');
  assert.ok(i > 0 && argv[i - 1] === '-l', argv.join(' '));
  assert.equal(argv.filter((a) => a.startsWith('bootrom')).length, 1);
});

test('BIOS: the boot ROM alone (no varfile) and fbuf with vga=on', () => {
  const def = mkDef({ type: 'BIOS', displays: [{ name: 'd', width: 1024, height: 768 }] });
  const argv = bhyveArgv(mkPlan(def), mkOpts({
    bootrom: { code: '/usr/local/share/uefi-firmware/BHYVE_UEFI_CSM.fd', vars: '/vms/x/VARS.fd' },
    vnc: '127.0.0.1:5900',
  }));
  const p = parse(argv);
  assert.deepEqual(p.l, ['com1,/dev/nmdm-testA', 'bootrom,/usr/local/share/uefi-firmware/BHYVE_UEFI_CSM.fd']);
  assert.ok(p.s.some((d) => d.spec === 'fbuf,tcp=127.0.0.1:5900,w=1024,h=768,vga=on'));
});

test('no boot ROM and direct kernel boot are refused', () => {
  const def = mkDef();
  assert.throws(() => bhyveArgv(mkPlan(def), mkOpts({ bootrom: undefined })), /boot ROM/);
  const k = mkDef({ kernel: 'vmlinuz', initrd: 'initrd.img', cmdline: 'console=ttyS0' });
  assert.throws(() => bhyveArgv(mkPlan(k, { kernelPath: '/k/vmlinuz' }), mkOpts()), /cannot boot a kernel directly/);
  assert.throws(() => bhyveArgv(mkPlan(def, { kernelPath: '/k/vmlinuz' }), mkOpts()), /cannot boot a kernel directly/);
});

test('media: ISO as ahci-cd, images as virtio-blk with ,ro when read-only', () => {
  const def = mkDef({
    media: [
      { mid: 'a.iso', mode: 'BLOCK', readonly: true },
      { mid: 'b.ISO', mode: 'VIRTIO', readonly: false },
      { mid: 'c.img', mode: 'BLOCK', readonly: true },
      { mid: 'd.img', mode: 'VIRTIO', readonly: false },
      { mid: 'e.raw', mode: 'VIRTIO', readonly: true },
    ],
  });
  const p = parse(bhyveArgv(mkPlan(def, { mediaPaths: ['/s/a.iso', '/s/b.ISO', '/s/c.img', '/s/d.img', '/s/e.raw'] }), mkOpts()));
  assert.deepEqual(p.s.map((d) => `${d.slot},${d.spec}`), [
    '0,hostbridge',
    '1,ahci-cd,/s/a.iso',
    '2,ahci-cd,/s/b.ISO',
    '3,virtio-blk,/s/c.img,ro',
    '4,virtio-blk,/s/d.img',
    '5,virtio-blk,/s/e.raw,ro',
    '31,lpc',
  ]);
});

test('media: USB is refused with the message the caller maps to 406', () => {
  const def = mkDef({ media: [{ mid: 'stick.img', mode: 'USB', readonly: false }] });
  assert.throws(() => bhyveArgv(mkPlan(def), mkOpts()), (e: unknown) =>
    e instanceof Error && e.message === 'bhyve cannot attach media by USB');
  const iso = mkDef({ media: [{ mid: 'x.iso', mode: 'USB', readonly: true }] });
  assert.throws(() => bhyveArgv(mkPlan(iso), mkOpts()), { message: 'bhyve cannot attach media by USB' });
});

test('comma, whitespace and NUL in paths, taps and console are refused, not passed on', () => {
  const discDef = mkDef({ discs: [disc()] });
  for (const bad of ['/vms/a,ro', '/vms/a b.img', '/vms/a\tb', '/vms/a\nb', '/vms/a\0b', '']) {
    assert.throws(() => bhyveArgv(mkPlan(discDef, { discPaths: [bad] }), mkOpts()), /bhyve: disc 0 path/, JSON.stringify(bad));
  }
  const mediaDef = mkDef({ media: [{ mid: 'x.iso', mode: 'BLOCK', readonly: true }] });
  assert.throws(() => bhyveArgv(mkPlan(mediaDef, { mediaPaths: ['/isos/x.iso,hd:/etc/master.passwd'] }), mkOpts()), /medium 0 path/);
  const nicDef = mkDef({ nics: [{ type: 'NAT' }] });
  assert.throws(() => bhyveArgv(mkPlan(nicDef), mkOpts({ taps: ['tap0,mac=00:00:00:00:00:01'] })), /nic 0 tap/);
  assert.throws(() => bhyveArgv(mkPlan(nicDef), mkOpts({ taps: ['tap 0'] })), /nic 0 tap/);
  assert.throws(() => bhyveArgv(mkPlan(nicDef), mkOpts({ taps: [] })), /no tap interface for nic 0/);
  assert.throws(() => bhyveArgv(mkPlan(mkDef()), mkOpts({ console: 'stdio,x' })), /console/);
  assert.throws(() => bhyveArgv(mkPlan(mkDef()), mkOpts({ bootrom: { code: '/fw/a,b.fd', vars: '/v' } })), /boot ROM/);
  assert.throws(() => bhyveArgv(mkPlan(mkDef()), mkOpts({ bootrom: { code: '/fw/a.fd', vars: '/v,w' } })), /EFI vars file/);
  const disp = mkDef({ displays: [{ name: 'd', width: 800, height: 600 }] });
  assert.throws(() => bhyveArgv(mkPlan(disp), mkOpts({ vnc: '0.0.0.0:5900,password=x' })), /VNC address/);
});

test('display: needs a TCP VNC address within fbuf limits; only the first display is used', () => {
  const disp = (w: number, h: number) => mkDef({ displays: [{ name: 'a', width: w, height: h }, { name: 'b', width: 800, height: 600 }] });
  assert.throws(() => bhyveArgv(mkPlan(disp(800, 600)), mkOpts()), /no VNC address/);
  assert.throws(() => bhyveArgv(mkPlan(disp(800, 600)), mkOpts({ vnc: '/vms/x/vnc.sock' })), /TCP address only/);
  assert.throws(() => bhyveArgv(mkPlan(disp(320, 200)), mkOpts({ vnc: '5900' })), /outside fbuf/);
  assert.throws(() => bhyveArgv(mkPlan(disp(7680, 4320)), mkOpts({ vnc: '5900' })), /outside fbuf/);
  const p = parse(bhyveArgv(mkPlan(disp(3840, 2160)), mkOpts({ vnc: '5900' })));
  assert.deepEqual(p.s.filter((d) => /^(fbuf|xhci)/.test(d.spec)).map((d) => d.spec),
    ['fbuf,tcp=5900,w=3840,h=2160', 'xhci,tablet']);
  // No display: neither fbuf nor xhci.
  const none = parse(bhyveArgv(mkPlan(mkDef()), mkOpts()));
  assert.deepEqual(none.s.map((d) => d.spec), ['hostbridge', 'lpc']);
});

test('the driver\'s options: a display gets fbuf on 127.0.0.1 and the VM\'s reserved port', () => {
  const def = mkDef({ displays: [{ name: 'main', width: 1280, height: 1024 }], nics: [{ type: 'BRIDGE', host: 'uplink' }] });
  const plan = mkPlan(def);
  const port = preferredVncPort(def.vmid);
  const opts = bhyveOptions(plan, { uefiCode: CODE, taps: ['tap4'], vncPort: port });
  assert.deepEqual(opts, {
    console: `/dev/nmdm${def.vmid}A`,
    taps: ['tap4'],
    bootrom: { code: CODE, vars: `${plan.dir}/efivars.fd` },
    vnc: `127.0.0.1:${port}`,
  });
  const p = parse(bhyveArgv(plan, opts));
  assert.deepEqual(p.s.filter((d) => /^(fbuf|xhci)/.test(d.spec)).map((d) => d.spec),
    [`fbuf,tcp=127.0.0.1:${port},w=1280,h=1024`, 'xhci,tablet']);
  // Without a display no port is reserved, and no fbuf is asked for.
  const headless = mkDef();
  const none = bhyveOptions(mkPlan(headless), { uefiCode: CODE, taps: [], vncPort: null });
  assert.equal(none.vnc, undefined);
  assert.ok(!bhyveArgv(mkPlan(headless), none).some((a) => a.includes('fbuf')));
});

test('slots: hostbridge 0, devices 1..30 in order, lpc at 31 even when full', () => {
  const discs = Array.from({ length: 26 }, (_v, i) => disc(`d${i}`));
  const def = mkDef({ discs, nics: [{ type: 'NAT' }, { type: 'NAT' }], displays: [{ name: 'a', width: 800, height: 600 }] });
  const p = parse(bhyveArgv(mkPlan(def), mkOpts({ taps: ['tap0', 'tap1'], vnc: '5900' })));
  const slots = p.s.map((d) => Number(d.slot));
  assert.deepEqual(slots, Array.from({ length: 32 }, (_v, i) => i));
  assert.equal(p.s[0].spec, 'hostbridge');
  assert.equal(p.s[31].spec, 'lpc');
  assert.equal(p.s[30].spec, 'xhci,tablet');
  assert.equal(p.s[29].spec, 'fbuf,tcp=5900,w=800,h=600');
  assert.equal(p.s.filter((d) => d.slot === '31').length, 1);
});

test('more than 30 devices is an error', () => {
  const def = (n: number) => mkDef({ discs: Array.from({ length: n }, (_v, i) => disc(`d${i}`)) });
  assert.doesNotThrow(() => bhyveArgv(mkPlan(def(30)), mkOpts()));
  assert.throws(() => bhyveArgv(mkPlan(def(31)), mkOpts()), /31 PCI devices, but only 30 slots/);
  // A display counts twice (fbuf and xhci).
  const withDisplay = mkDef({ discs: Array.from({ length: 29 }, (_v, i) => disc(`d${i}`)), displays: [{ name: 'a', width: 800, height: 600 }] });
  assert.throws(() => bhyveArgv(mkPlan(withDisplay), mkOpts({ vnc: '5900' })), /31 PCI devices/);
});

test('cpus and memory must be positive integers', () => {
  assert.throws(() => bhyveArgv(mkPlan(mkDef({ cpus: 0 })), mkOpts()), /CPU count/);
  assert.throws(() => bhyveArgv(mkPlan(mkDef({ memory_mib: 1.5 })), mkOpts()), /memory size/);
});

test('VM names and bhyvectl argv', () => {
  assert.equal(bhyveVmName(mkDef({ vmid: 'V1StGXR8_Z5jdHi6B-myT' })), 'hyved-V1StGXR8_Z5jdHi6B-myT');
  // Too long or not /dev/vmm-safe: a fixed-length hash under a prefix the plain form never has.
  const long = bhyveVmName(mkDef({ vmid: 'x'.repeat(40) }));
  assert.match(long, /^hyvedh-[0-9a-f]{24}$/);
  assert.equal(long.length, 31);
  assert.equal(bhyveVmName(mkDef({ vmid: 'x'.repeat(40) })), long);
  assert.notEqual(bhyveVmName(mkDef({ vmid: 'x'.repeat(41) })), long);
  assert.match(bhyveVmName(mkDef({ vmid: '../../etc' })), /^hyvedh-[0-9a-f]{24}$/);
  assert.match(bhyveVmName(mkDef({ vmid: 'a,b' })), /^hyvedh-/);

  assert.deepEqual(bhyvectlDestroyArgv('hyved-abc'), ['--vm=hyved-abc', '--destroy']);
  assert.deepEqual(bhyvectlPoweroffArgv('hyved-abc'), ['--vm=hyved-abc', '--force-poweroff']);
  assert.throws(() => bhyvectlDestroyArgv('a b'), /invalid VM name/);
  assert.throws(() => bhyvectlPoweroffArgv(''), /invalid VM name/);
});
