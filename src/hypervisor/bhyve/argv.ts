/**
 * bhyve(8) and bhyvectl(8) argv builders for FreeBSD/amd64 hosts.
 *
 * Not exercised on the Linux CI; tested against bhyve(8) examples (test/bhyve-argv.test.ts
 * rebuilds the manual's EXAMPLES section and compares device lists and flags).
 *
 * Choices, with the manual's reasons:
 *  - Flags: -A (ACPI tables; "Required for FreeBSD/amd64 guests" on 13/14, accepted as a no-op
 *    since bhyve always builds them), -H (yield the vCPU thread on HLT instead of spinning),
 *    -P (exit on PAUSE), -w (ignore unimplemented MSRs: what the manual's UEFI examples use),
 *    -u (the RTC keeps UTC).
 *  - PCI: hostbridge at slot 0, lpc at slot 31 (as in the manual's UEFI examples), every other
 *    device one function-0 slot, numbered 1, 2, ... in the order discs, media, nics, fbuf,
 *    xhci. Slots 1..30 leave room for 30 devices; more is an error, not a multi-function guess.
 *    The slot numbers are deterministic because virtio-net derives its MAC address from the
 *    slot, function and VM name when no mac= is given.
 *  - Boot: bhyve starts a non-FreeBSD guest only through a boot ROM (`-l bootrom,...`);
 *    bhyveload(8) loads FreeBSD kernels only and there is no QEMU-style -kernel, so direct
 *    kernel boot is refused and a boot ROM is required for both firmware types. An EFI guest
 *    gets `-l bootrom,<code>,<vars>` (the manual's `romfile[,varfile]`: bhyve saves the
 *    guest's variable writes into this VM's own copy). A BIOS guest gets `-l bootrom,<code>`
 *    only: the caller picks a ROM with a compatibility support module (e.g. BHYVE_UEFI_CSM.fd)
 *    as `code`, legacy guests keep no UEFI variables, and its fbuf gets `vga=on`, which the
 *    manual prescribes "along with the CSM BIOS capability in UEFI to boot traditional BIOS
 *    guests".
 *  - Storage: discs are virtio-blk; a medium in BLOCK or VIRTIO mode is an ATAPI CD
 *    (`ahci-cd`, read-only by nature) when it is an .iso, else virtio-blk (`,ro` if read-only).
 *    bhyve has no USB mass-storage emulation (its xhci offers only a tablet), so USB media are
 *    refused.
 *  - Display: bhyve allows one fbuf; the first display sets its w=/h= and the VNC server
 *    listens on a TCP address (`tcp=`; fbuf has no unix-socket backend): 127.0.0.1 and a port
 *    the driver reserves per VM (see vnc.ts). An xhci tablet follows for absolute pointer input.
 *
 * bhyve splits every -s/-l value at commas and some at '=', so a host path or interface name
 * containing a comma (or whitespace or NUL) is refused rather than escaped: bhyve has no
 * escape syntax.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { DisplayLimits, LaunchPlan, VmDefinition } from '../types.js';
import { vncAddress } from './vnc.js';

export interface BhyveOptions {
  /** nmdm device for the serial console, e.g. '/dev/nmdm-<vmid>A' */
  console: string;
  /** tap interface per nic index (BRIDGE and NAT alike on bhyve: NAT would be via a host-side NAT bridge) */
  taps: string[];
  /** UEFI firmware: code (BHYVE_UEFI.fd) and this VM's copy of the vars file */
  bootrom?: { code: string; vars: string };
  /**
   * fbuf/VNC listen address: `[IPv4:]port` or `[IPv6%zone]:port`, e.g. '127.0.0.1:5901'.
   * bhyve's fbuf has no unix-socket backend, so a path is refused.
   */
  vnc?: string;
}

/** Files a bhyve VM keeps in its VM directory. */
export function runtimePaths(dir: string) {
  return {
    pidfile: path.join(dir, 'bhyve.pid'),
    log: path.join(dir, 'bhyve.log'),
    /** This VM's copy of the UEFI variable store. */
    efiVars: path.join(dir, 'efivars.fd'),
    /** fbuf's VNC address as of the VM's last start with a display: re-adoption holds its port again. */
    vnc: path.join(dir, 'vnc.addr'),
  };
}

/** What the driver set up for one start of a VM. */
export interface BhyveResources {
  uefiCode: string;
  /** One tap per nic, in order. */
  taps: string[];
  /** The VNC port reserved for the VM; null when it has no display. */
  vncPort: number | null;
}

/** The BhyveOptions for a start: the VM's nmdm console, its taps, boot ROM and VNC address. */
export function bhyveOptions(plan: LaunchPlan, r: BhyveResources): BhyveOptions {
  return {
    console: `/dev/nmdm${plan.def.vmid}A`,
    taps: r.taps,
    bootrom: { code: r.uefiCode, vars: runtimePaths(plan.dir).efiVars },
    ...(r.vncPort !== null ? { vnc: vncAddress(r.vncPort) } : {}),
  };
}

/** Slots 0 (hostbridge) and 31 (lpc) are taken; 1..30 are for everything else. */
const HOSTBRIDGE_SLOT = 0;
const LPC_SLOT = 31;
const MAX_DEVICES = 30;

/** fbuf's resolution limits (bhyve(8), Framebuffer device backends). */
export const FBUF_SIZES: DisplayLimits = { minWidth: 640, minHeight: 480, maxWidth: 3840, maxHeight: 2160 };

/** Longest VM name every supported FreeBSD release accepts (VM_MAX_NAMELEN 32 with its NUL). */
const VM_NAME_MAX = 31;
const VM_NAME_PREFIX = 'hyved-';

/** Refuse a value that would be split, re-parsed or truncated inside a bhyve option. */
function checkValue(what: string, value: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new Error(`bhyve: ${what} is empty`);
  }
  if (/[,\s\u0000]/.test(value)) {
    throw new Error(`bhyve: ${what} ${JSON.stringify(value)} contains a comma, whitespace or NUL, which bhyve cannot take in an option value`);
  }
  return value;
}

function isIso(mediaPath: string, mid: string): boolean {
  return /\.iso$/i.test(mediaPath) || /\.iso$/i.test(mid);
}

/**
 * The name under /dev/vmm for a VM: 'hyved-<vmid>' when that is short and plain enough,
 * otherwise 'hyvedh-' and 24 hex digits of the vmid's SHA-256 (the different prefix keeps the
 * two forms from ever colliding).
 */
export function bhyveVmName(def: VmDefinition): string {
  const plain = VM_NAME_PREFIX + def.vmid;
  if (/^[A-Za-z0-9_-]+$/.test(def.vmid) && plain.length <= VM_NAME_MAX) return plain;
  return 'hyvedh-' + createHash('sha256').update(def.vmid).digest('hex').slice(0, 24);
}

/** `bhyvectl --vm=NAME --destroy`: frees the VM's kernel state after bhyve exits. */
export function bhyvectlDestroyArgv(name: string): string[] {
  return [`--vm=${checkName(name)}`, '--destroy'];
}

/** `bhyvectl --vm=NAME --force-poweroff`: stops the guest without asking it. */
export function bhyvectlPoweroffArgv(name: string): string[] {
  return [`--vm=${checkName(name)}`, '--force-poweroff'];
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name) || name.length > VM_NAME_MAX) {
    throw new Error(`bhyve: invalid VM name ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * The bhyve argv for a plan, without the leading 'bhyve' and with the VM name last.
 * Throws an Error for what bhyve cannot do (USB media, direct kernel boot, no boot ROM,
 * more than 30 devices) and for values it cannot quote.
 */
export function bhyveArgv(plan: LaunchPlan, opts: BhyveOptions): string[] {
  const { def } = plan;

  if (def.kernel !== undefined || plan.kernelPath !== undefined) {
    throw new Error('bhyve cannot boot a kernel directly: it starts guests through a boot ROM (bhyveload(8) loads FreeBSD kernels only)');
  }
  if (!opts.bootrom) {
    throw new Error(`bhyve needs a boot ROM to start a ${def.type} guest (bhyveload(8) loads FreeBSD kernels only): no firmware configured`);
  }
  if (!Number.isInteger(def.cpus) || def.cpus < 1) {
    throw new Error(`bhyve: invalid CPU count ${def.cpus}`);
  }
  if (!Number.isInteger(def.memory_mib) || def.memory_mib < 1) {
    throw new Error(`bhyve: invalid memory size ${def.memory_mib} MiB`);
  }
  if (plan.mediaPaths.length !== def.media.length) {
    throw new Error(`bhyve: ${def.media.length} media but ${plan.mediaPaths.length} media paths`);
  }

  const devices: string[] = [];
  plan.discPaths.forEach((p, i) => {
    devices.push(`virtio-blk,${checkValue(`disc ${i} path`, p)}`);
  });
  def.media.forEach((m, i) => {
    if (m.mode === 'USB') throw new Error('bhyve cannot attach media by USB');
    const p = checkValue(`medium ${i} path`, plan.mediaPaths[i]);
    if (isIso(p, m.mid)) devices.push(`ahci-cd,${p}`);
    else devices.push(`virtio-blk,${p}${m.readonly ? ',ro' : ''}`);
  });
  // The cloud-init seed, read-only on virtio-blk as under QEMU.
  if (plan.seedPath) devices.push(`virtio-blk,${checkValue('seed path', plan.seedPath)},ro`);
  def.nics.forEach((n, i) => {
    const tap = opts.taps[i];
    if (tap === undefined) throw new Error(`bhyve: no tap interface for nic ${i}`);
    devices.push(`virtio-net,${checkValue(`nic ${i} tap`, tap)}${n.mac ? `,mac=${n.mac}` : ''}`);
  });
  if (def.displays.length > 0) {
    const d = def.displays[0];
    const f = FBUF_SIZES;
    if (!Number.isInteger(d.width) || !Number.isInteger(d.height) ||
        d.width < f.minWidth || d.height < f.minHeight || d.width > f.maxWidth || d.height > f.maxHeight) {
      throw new Error(`bhyve: display ${d.width}x${d.height} is outside fbuf's ${f.minWidth}x${f.minHeight} to ${f.maxWidth}x${f.maxHeight}`);
    }
    if (opts.vnc === undefined) throw new Error('bhyve: the VM has a display but no VNC address was given');
    const vnc = checkValue('VNC address', opts.vnc);
    if (vnc.startsWith('/') || vnc.startsWith('unix:')) {
      throw new Error('bhyve: fbuf serves VNC on a TCP address only, not a unix socket');
    }
    devices.push(`fbuf,tcp=${vnc},w=${d.width},h=${d.height}${def.type === 'BIOS' ? ',vga=on' : ''}`);
    devices.push('xhci,tablet');
  }
  if (devices.length > MAX_DEVICES) {
    throw new Error(`bhyve: ${devices.length} PCI devices, but only ${MAX_DEVICES} slots are free (1-30)`);
  }

  const a: string[] = [
    '-c', String(def.cpus),
    '-m', `${def.memory_mib}M`,
    '-A', '-H', '-P', '-w', '-u',
    '-s', `${HOSTBRIDGE_SLOT},hostbridge`,
  ];
  devices.forEach((dev, i) => a.push('-s', `${i + 1},${dev}`));
  a.push('-s', `${LPC_SLOT},lpc`);
  a.push('-l', `com1,${checkValue('console', opts.console)}`);
  const code = checkValue('boot ROM', opts.bootrom.code);
  if (def.type === 'EFI') a.push('-l', `bootrom,${code},${checkValue('EFI vars file', opts.bootrom.vars)}`);
  else a.push('-l', `bootrom,${code}`);
  a.push(bhyveVmName(def));
  return a;
}
