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
  firmware?: { code: string; varsTemplate: string };
}

export interface DriverCapabilities {
  pause: boolean;
  efi: boolean;
  directBoot: boolean;
}
