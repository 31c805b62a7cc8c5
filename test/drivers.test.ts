import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { unsupported } from '../src/hypervisor/capabilities.js';
import { BhyveDriver } from '../src/hypervisor/bhyve/driver.js';
import { VNC_FIRST, VNC_PORTS, VncPorts, preferredVncPort } from '../src/hypervisor/bhyve/vnc.js';
import { isFreeBsdBridge, isLinuxBridge } from '../src/hypervisor/host-nics.js';
import { QemuDriver } from '../src/hypervisor/qemu/driver.js';
import { pidAlive as alive } from '../src/core/pid-file.js';
import { waitForExit } from '../src/hypervisor/process.js';
import type { LaunchPlan } from '../src/hypervisor/types.js';
import { ROOT, tempDir } from './helpers/daemon.js';

const run = promisify(execFile);

const qemu = new QemuDriver({ binary: 'qemu-system-x86_64', imgBinary: 'qemu-img', passt: 'passt' }, true);
const bhyve = (ifconfig = '/sbin/ifconfig') => new BhyveDriver({ bhyve: '/usr/sbin/bhyve', bhyvectl: '/usr/sbin/bhyvectl', ifconfig, uefiCode: null });

test('capabilities: QEMU takes every mode, nic type and display size the schema allows', () => {
  const caps = qemu.capabilities();
  assert.deepEqual(unsupported('qemu', caps, {
    type: 'EFI',
    kernel: 'vmlinuz', initrd: 'initrd.gz', cmdline: 'console=ttyS0',
    media: [{ mid: 'a.iso', mode: 'USB', readonly: true }, { mid: 'a.iso', mode: 'BLOCK', readonly: true }, { mid: 'a.iso', mode: 'VIRTIO', readonly: true }],
    nics: [{ type: 'NAT' }, { type: 'BRIDGE', host: 'lan' }],
    displays: [{ name: 'a', width: 320, height: 200 }, { name: 'b', width: 7680, height: 4320 }],
  }), []);
  assert.equal(caps.bridge, true, 'QEMU bridges through qemu-bridge-helper on Linux');
  assert.deepEqual(unsupported('qemu', new QemuDriver({ binary: 'q', imgBinary: 'qi', passt: 'passt' }, false).capabilities(), { type: 'EFI' }),
    ['type: the qemu hypervisor has no UEFI firmware on this host for EFI guests']);
});

test('capabilities: bhyve refuses USB media, NAT, direct boot and displays fbuf cannot show, each by field', () => {
  const caps = bhyve().capabilities();
  assert.equal(caps.pause, false);
  assert.equal(caps.efi, false);
  assert.equal(caps.directBoot, false);
  assert.deepEqual(unsupported('bhyve', caps, {
    type: 'BIOS',
    media: [{ mid: 'a.iso', mode: 'BLOCK', readonly: true }, { mid: 'b.img', mode: 'USB', readonly: false }],
    nics: [{ type: 'BRIDGE', host: 'lan' }, { type: 'NAT' }],
    displays: [{ name: 'a', width: 639, height: 480 }],
  }), [
    'media/1/mode: the bhyve hypervisor cannot attach USB media',
    'nics/1/type: the bhyve hypervisor has no NAT networking (use a BRIDGE nic)',
    'displays/0: the bhyve hypervisor shows 640x480 to 3840x2160, not 639x480',
  ]);
  assert.deepEqual(unsupported('bhyve', caps, { type: 'EFI' }), ['type: the bhyve hypervisor has no UEFI firmware on this host for EFI guests']);
  // The first direct-boot field given is the one named.
  assert.deepEqual(unsupported('bhyve', caps, { initrd: 'initrd.gz', cmdline: 'x' }), ['initrd: the bhyve hypervisor cannot boot a kernel directly, only through firmware']);
  assert.deepEqual(unsupported('bhyve', caps, { displays: [{ name: 'a', width: 3840, height: 2160 }], media: [] }), []);
  // An update is judged by what it changes: no fields, no problems.
  assert.deepEqual(unsupported('bhyve', caps, {}), []);
});

test('alive: a running process is alive, a reaped one is not, and EPERM counts as alive', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const pid = child.pid!;
  assert.equal(alive(pid), true);

  // The same question asked by an unprivileged user about a process it may not signal.
  const probe = `import { pidAlive } from ${JSON.stringify(path.join(ROOT, 'dist/src/core/pid-file.js'))}; process.stdout.write(JSON.stringify(pidAlive(Number(process.argv[1]))));`;
  const asNobody = async (target: number) =>
    JSON.parse((await run(process.execPath, ['--input-type=module', '-e', probe, String(target)], process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {})).stdout);
  // pid 1 is root's: as root the probe runs as nobody, as anyone else it is not ours already.
  assert.equal(await asNobody(1), true, 'EPERM: the process exists');
  if (process.getuid?.() === 0) assert.equal(await asNobody(pid), true, 'EPERM on a root-owned sleep');

  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(alive(pid), false);
});

test('waitForExit: true on exit, false on timeout, and no listener is left behind either way', async () => {
  const handle = new EventEmitter();
  for (let i = 0; i < 20; i++) assert.equal(await waitForExit(handle, false, 5), false);
  assert.equal(handle.listenerCount('exit'), 0, 'timed-out waits leave no listeners');
  const waiting = waitForExit(handle, false, 5000);
  assert.equal(handle.listenerCount('exit'), 1);
  handle.emit('exit');
  assert.equal(await waiting, true);
  assert.equal(handle.listenerCount('exit'), 0);
  assert.equal(await waitForExit(handle, true, 5000), true, 'already exited: at once');
});

test('bhyve VNC ports: per VM, deterministic, never one held or in use', async () => {
  const p = preferredVncPort('abc123');
  assert.equal(preferredVncPort('abc123'), p);
  assert.ok(p >= VNC_FIRST && p < VNC_FIRST + VNC_PORTS);
  assert.notEqual(preferredVncPort('abc124'), p);

  // A fake probe: everything free except what we say.
  const busy = new Set<number>();
  const ports = new VncPorts(async (port) => !busy.has(port));
  assert.equal(await ports.take('abc123'), p);
  const second = await ports.take('abc123');
  assert.equal(second, p + 1 === VNC_FIRST + VNC_PORTS ? VNC_FIRST : p + 1, 'a held port is passed over for the next');
  ports.release(p);
  busy.add(p);
  assert.notEqual(await ports.take('abc123'), p, 'a port someone else listens on is passed over');
  busy.clear();
  assert.equal(await ports.take('abc123'), p, 'a released port is the VM\'s again');
  ports.hold(preferredVncPort('zzz'));
  assert.notEqual(await ports.take('zzz'), preferredVncPort('zzz'), 'a re-adopted VM keeps its port');

  // The real probe: a port with a listener on 127.0.0.1 is not taken.
  const vmid = 'probe-' + process.pid;
  const want = preferredVncPort(vmid);
  const server = net.createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port: want }, () => resolve(true));
  });
  try {
    const got = await new VncPorts().take(vmid);
    assert.notEqual(got, want, listening ? 'our listener holds it' : 'someone else holds it');
  } finally {
    if (listening) server.close();
  }
});

test('bridges: bhyve asks ifconfig (a renamed bridge by its group), QEMU asks sysfs', async () => {
  const dir = await tempDir();
  const ifconfig = path.join(dir, 'ifconfig');
  // What FreeBSD's ifconfig prints for a bridge renamed to vmswitch, a bridgeN with no members,
  // and a plain NIC; any other name is unknown to it.
  await writeFile(ifconfig, `#!/bin/sh
case "$1" in
vmswitch) cat <<'EOF'
vmswitch: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 58:9c:fc:10:ff:e2
\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15
\tgroups: bridge
\tnd6 options=9<PERFORMNUD,IFDISABLED>
EOF
;;
bridge3) printf 'bridge3: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\\n\\tgroups: bridge\\n' ;;
em0) printf 'em0: flags=8863<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\\n\\tether 00:25:90:aa:bb:cc\\n\\tgroups: egress\\n' ;;
*) echo "ifconfig: interface $1 does not exist" >&2; exit 1 ;;
esac
`);
  await chmod(ifconfig, 0o755);
  const b = bhyve(ifconfig);
  assert.equal(await b.isBridge('vmswitch'), true);
  assert.equal(await b.isBridge('bridge3'), true);
  assert.equal(await b.isBridge('em0'), false);
  assert.equal(await b.isBridge('nosuch0'), false);
  assert.equal(await isFreeBsdBridge('-a', ifconfig), false, 'never passed on as an option');

  assert.equal(await qemu.isBridge('lo'), false, 'lo is no bridge');
  const sysfs = path.join(dir, 'net');
  await mkdir(path.join(sysfs, 'br0', 'bridge'), { recursive: true });
  await mkdir(path.join(sysfs, 'eth0'), { recursive: true });
  assert.equal(await isLinuxBridge('br0', sysfs), true);
  assert.equal(await isLinuxBridge('eth0', sysfs), false);
  assert.equal(await isLinuxBridge('../net/br0', sysfs), false, 'a name is not a path');
});

test('bhyve start: a display gets fbuf on the VM\'s own VNC port, which a failed start gives back', async () => {
  const dir = await tempDir();
  // A "bhyve" that prints its arguments (into bhyve.log, whose tail the error quotes) and fails.
  const fake = path.join(dir, 'bhyve');
  await writeFile(fake, '#!/bin/sh\necho "$@"\nexit 1\n');
  await chmod(fake, 0o755);
  const driver = new BhyveDriver({ bhyve: fake, bhyvectl: '/bin/true', ifconfig: '/bin/false', uefiCode: '/fw/BHYVE_UEFI.fd' });
  const vmDir = path.join(dir, 'vm');
  await mkdir(vmDir);
  const plan: LaunchPlan = {
    def: {
      vmid: 'vnc0test', name: 'v', gid: 'default', type: 'EFI', cpus: 1, memory_mib: 256,
      displays: [{ name: 'main', width: 1024, height: 768 }], media: [], nics: [], discs: [],
      autostart: false, description: '', rosetta: false, created: '2024-01-01T00:00:00Z',
    },
    dir: vmDir, discPaths: [], mediaPaths: [], bridges: [], accelerator: 'tcg', consoleLog: path.join(vmDir, 'console', 'serial-0.log'),
  };
  const failure = async () => (await driver.start(plan).then(() => assert.fail('started'), (e: Error) => e)).message;
  const first = await failure();
  const addr = (await readFile(path.join(vmDir, 'vnc.addr'), 'utf8')).trim();
  assert.match(addr, /^127\.0\.0\.1:\d+$/);
  assert.ok(first.includes(`fbuf,tcp=${addr},w=1024,h=768`), first);
  assert.ok(first.includes('-l bootrom,/fw/BHYVE_UEFI.fd,'), first);
  // The port came back: the next start asks for the same one.
  const second = await failure();
  assert.ok(second.includes(`fbuf,tcp=${addr},`), second);
  assert.equal((await readFile(path.join(vmDir, 'vnc.addr'), 'utf8')).trim(), addr);
  // No bhyve at all: an error to answer with, not an unhandled 'error' event.
  const missing = new BhyveDriver({ bhyve: path.join(dir, 'nosuch'), bhyvectl: '/bin/true', ifconfig: '/bin/false', uefiCode: '/fw/BHYVE_UEFI.fd' });
  await assert.rejects(missing.start(plan), /cannot run .*ENOENT/);
});
