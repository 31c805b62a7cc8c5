import path from 'node:path';
import type { LaunchPlan, VmDefinition } from '../types.js';
import { userNetOptions } from './user-net.js';

/** Files a running QEMU keeps in its VM directory. */
export function runtimePaths(dir: string) {
  return {
    qmp: path.join(dir, 'qmp.sock'),
    console: path.join(dir, 'console.sock'),
    /** Where the console socket sits for a moment while its log file changes (see QemuVm.serial). */
    consoleSwap: path.join(dir, 'console.swap.sock'),
    vnc: path.join(dir, 'vnc.sock'),
    /** The guest agent's virtio-serial port (qemu-ga), DESIGN §9. */
    qga: path.join(dir, 'qga.sock'),
    pidfile: path.join(dir, 'qemu.pid'),
    log: path.join(dir, 'qemu.log'),
    efiVars: path.join(dir, 'efivars.fd'),
  };
}

/** The virtio-serial port name qemu-ga opens in the guest. */
export const AGENT_PORT = 'org.qemu.guest_agent.0';

/** The marker in QEMU's process name that ties a pid back to its VM when re-adopting. */
export function processTag(vmid: string): string {
  return `hyved-${vmid}`;
}

/**
 * The first of the descriptors QEMU inherits, one per guarded NAT nic in `guardedNics` order: its
 * end of a connected socket whose other end is the nic's frame guard (see nat-link.ts).
 */
export const NAT_LINK_FD = 3;

/** The indices of the NAT nics kept off the host's loopback: every NAT nic not set `host_loopback`. */
export function guardedNics(def: VmDefinition): number[] {
  return def.nics.flatMap((n, i) => (n.type === 'NAT' && !n.host_loopback ? [i] : []));
}

/** QEMU option values are comma-separated: a comma in a path would start a new option. */
function optPath(p: string): string {
  return p.replace(/,/g, ',,');
}

/**
 * The qemu-system argv for a plan (without the binary). The VM starts paused (-S) and
 * daemonized, so it outlives hyved; the caller connects to QMP and sends `cont`.
 */
export function qemuArgv(plan: LaunchPlan): string[] {
  const { def } = plan;
  const rt = runtimePaths(plan.dir);
  const a: string[] = [
    '-name', `guest=${def.name.replace(/,/g, ',,')},process=${processTag(def.vmid)}`,
    '-machine', `q35,accel=${plan.accelerator}`,
    '-cpu', plan.accelerator === 'kvm' ? 'host' : 'max',
    '-smp', String(def.cpus),
    '-m', `${def.memory_mib}M`,
    '-nodefaults', '-no-user-config',
    '-S',
    '-daemonize',
    '-pidfile', rt.pidfile,
    '-qmp', `unix:${optPath(rt.qmp)},server=on,wait=off`,
    '-chardev', `socket,id=serial0,path=${optPath(rt.console)},server=on,wait=off,logfile=${optPath(plan.consoleLog)},logappend=on`,
    '-serial', 'chardev:serial0',
    // The guest agent's port: qemu-ga looks for this name in the guest.
    '-device', 'virtio-serial-pci,id=vserial0',
    '-chardev', `socket,id=qga0,path=${optPath(rt.qga)},server=on,wait=off`,
    '-device', `virtserialport,bus=vserial0.0,chardev=qga0,name=${AGENT_PORT}`,
  ];
  if (plan.firmware) {
    a.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${optPath(plan.firmware.code)}`);
    a.push('-drive', `if=pflash,format=raw,unit=1,file=${optPath(rt.efiVars)}`);
  }
  if (def.displays.length) {
    const d = def.displays[0];
    a.push('-device', `VGA,xres=${d.width},yres=${d.height}`, '-vnc', `unix:${optPath(rt.vnc)}`);
  } else {
    a.push('-display', 'none');
  }
  // bootindex orders the firmware's boot menu: a CD first only when asked (an install). A direct
  // kernel boot takes bootindex 0 itself, so then no device gets one.
  const firmwareBoot = !plan.kernelPath;
  const cdFirst = def.boot === 'cd';
  let bootIndex = cdFirst ? 1 : 0;
  plan.discPaths.forEach((p, i) => {
    a.push('-drive', `file=${optPath(p)},if=none,id=disc${i},format=qcow2,discard=unmap`);
    a.push('-device', `virtio-blk-pci,drive=disc${i},id=disc${i}-dev${firmwareBoot && i === 0 ? `,bootindex=${bootIndex}` : ''}`);
  });
  bootIndex = cdFirst ? 0 : 1;
  let usb = false;
  let scsi = false;
  let ide = 0;
  def.media.forEach((m, i) => {
    const file = plan.mediaPaths[i];
    const iso = /\.iso$/i.test(file);
    const ro = m.readonly || iso ? ',readonly=on' : '';
    const fmt = iso ? 'raw' : /\.qcow2$/i.test(file) ? 'qcow2' : 'raw';
    a.push('-drive', `file=${optPath(file)},if=none,id=media${i},format=${fmt}${iso ? ',media=cdrom' : ''}${ro}`);
    if (m.mode === 'USB') {
      if (!usb) a.push('-device', 'qemu-xhci,id=xhci');
      usb = true;
      a.push('-device', `usb-storage,drive=media${i},bus=xhci.0,id=media${i}-dev`);
    } else if (m.mode === 'VIRTIO') {
      if (!scsi) a.push('-device', 'virtio-scsi-pci,id=scsi0');
      scsi = true;
      a.push('-device', `${iso ? 'scsi-cd' : 'scsi-hd'},drive=media${i},bus=scsi0.0,id=media${i}-dev`);
    } else if (iso) {
      // q35's AHCI controller offers six ports as ide.0 .. ide.5.
      const boot = firmwareBoot && ide === 0 ? `,bootindex=${bootIndex}` : '';
      a.push('-device', `ide-cd,drive=media${i},bus=ide.${ide},id=media${i}-dev${boot}`);
      ide++;
    } else {
      a.push('-device', `virtio-blk-pci,drive=media${i},id=media${i}-dev`);
    }
  });
  const guarded = guardedNics(def);
  def.nics.forEach((n, i) => {
    if (n.type === 'BRIDGE') a.push('-netdev', `bridge,id=net${i},br=${plan.bridges[i]}`);
    // QEMU's slirp maps 10.0.2.2 to the host's 127.0.0.1 and 7.2 has no switch to stop it: only on request.
    else if (n.host_loopback) a.push('-netdev', `user,id=net${i}${i === 0 ? userNetOptions(def.ips?.ipv4, plan.natPrefix ?? 24) : ''}`);
    else a.push('-netdev', `stream,id=net${i},server=off,addr.type=fd,addr.str=${NAT_LINK_FD + guarded.indexOf(i)}`);
    a.push('-device', `virtio-net-pci,netdev=net${i},id=net${i}-dev${n.mac ? `,mac=${n.mac}` : ''}`);
  });
  // A cloud-init seed on virtio-blk: the cloud kernels have no AHCI, USB-storage or floppy driver (DESIGN §7).
  if (plan.seedPath) {
    a.push('-drive', `file=${optPath(plan.seedPath)},if=none,id=seed,format=raw,readonly=on`);
    a.push('-device', 'virtio-blk-pci,drive=seed,id=seed-dev');
  }
  if (plan.kernelPath) {
    a.push('-kernel', plan.kernelPath);
    if (plan.initrdPath) a.push('-initrd', plan.initrdPath);
    if (def.cmdline) a.push('-append', def.cmdline);
  }
  return a;
}
