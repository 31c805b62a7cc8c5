/** A VM definition as stored in vms/<vmid>/vm.json (Velocity's fields plus discs and direct boot). */
export interface VmDefinition {
  vmid: string;
  name: string;
  gid: string;
  type: 'EFI' | 'BIOS';
  cpus: number;
  memory_mib: number;
  displays: { name: string; width: number; height: number; ppi?: number }[];
  /** Attached images from the store: `mid` is an ISO or disk image name. */
  media: { mid: string; mode: 'USB' | 'BLOCK' | 'VIRTIO'; readonly: boolean }[];
  nics: { type: 'NAT' | 'BRIDGE'; host?: string }[];
  discs: { label: string; size_mib: number; storage_grade: string }[];
  autostart: boolean;
  /** Boot device order for firmware boot: discs first (default) or the first CD medium. */
  boot?: 'disk' | 'cd';
  description: string;
  rosetta: boolean;
  /** Direct kernel boot, for appliances and tests. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  created: string;
}

/** Velocity's states; UNKNOWN when the hypervisor does not answer in time. */
export type VmState = 'STOPPED' | 'STARTING' | 'RUNNING' | 'PAUSING' | 'PAUSED' | 'RESUMING' | 'STOPPING' | 'UNKNOWN';

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
