import type { VmDefinition } from '../core/api.gen.js';

export type { VmDefinition, VmState } from '../core/api.gen.js';

/** Everything a driver needs to turn a definition into a running VM, resolved to host paths. */
export interface LaunchPlan {
  def: VmDefinition;
  /** The VM's own directory: sockets, pidfile, log, EFI vars. */
  dir: string;
  /** One per disc, in order, already created. */
  discPaths: string[];
  /** One per medium, in order: the image file in the store. */
  mediaPaths: string[];
  /** For BRIDGE nics: the host interface (bridge) of each NICID, by nic index. */
  bridges: (string | null)[];
  /** Host paths of kernel/initrd when direct boot is used. */
  kernelPath?: string;
  initrdPath?: string;
  accelerator: 'kvm' | 'tcg';
  /** The segment file the guest's serial output is appended to. */
  consoleLog: string;
  /** A cloud-init NoCloud seed to attach (raw FAT image), while the VM has one. */
  seedPath?: string;
  /** Prefix length of the first NAT nic's network when the VM has a fixed IPv4. */
  natPrefix?: number;
  firmware?: { code: string; varsTemplate: string };
}

export type MediaMode = VmDefinition['media'][number]['mode'];

/** A display's frame-buffer sizes, in pixels, both bounds included. */
export interface DisplayLimits { minWidth: number; minHeight: number; maxWidth: number; maxHeight: number }

/**
 * What a driver can do with a definition on this host. Published to clients as `host.*` by
 * `vm definitions` (keep the names); the engine refuses what is not here with a 406 at create,
 * update and start, so a VM never fails at start for something its hypervisor cannot do.
 */
export interface DriverCapabilities {
  /** Velocity's PAUSED state. */
  pause: boolean;
  /** EFI guests: UEFI firmware is installed and configured. */
  efi: boolean;
  /** `kernel`/`initrd`/`cmdline`: booting a kernel without firmware. */
  directBoot: boolean;
  /** The `media[].mode`s the hypervisor can attach. */
  mediaModes: MediaMode[];
  /** NAT nics: user-mode networking inside the hypervisor process. */
  nat: boolean;
  /** BRIDGE nics: the guest joins a host bridge. */
  bridge: boolean;
  /** Displays, served by VNC: the frame-buffer sizes the hypervisor takes; null when it has none. */
  vnc: DisplayLimits | null;
}
