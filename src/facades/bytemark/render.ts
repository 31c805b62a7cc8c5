import { createHash } from 'node:crypto';

/** The Bytemark hardware profile hyved's VMs are: virtio discs and nics. */
export const HARDWARE_PROFILE = 'virtio2013';

/**
 * Bytemark clients decode group ids as integers. hyved's groups are names in the config; the
 * number is derived from the name, so it is the same on every start and on every host.
 */
export function groupId(gid: string): number {
  return createHash('sha256').update(`group:${gid}`).digest().readUInt32BE(0) & 0x7fffffff;
}

export interface VmInfo {
  vmid: string;
  num?: number;
  name: string;
  gid: string;
  state: string;
  cpus: number;
  memory_mib: number;
  media: { mid: string }[];
  discs: { label: string; size_mib: number; storage_grade: string; num?: number }[];
  ips?: { ipv4?: string; ipv6?: string };
}

export function renderDisc(vm: VmInfo, d: VmInfo['discs'][number]) {
  return {
    type: 'application/vnd.bigv.disc',
    id: d.num ?? null,
    label: d.label,
    size: d.size_mib,
    virtual_machine_id: vm.num ?? null,
    storage_pool: d.storage_grade,
    storage_grade: d.storage_grade,
  };
}

/** A VM as Bytemark's API shows one; `power_on` is true once it runs, which is what clients poll for. */
export function renderVm(vm: VmInfo, account: string, host: string, cdromUrl: string | null = null) {
  return {
    type: 'application/vnd.bigv.virtual-machine',
    autoreboot_on: true,
    cdrom_url: cdromUrl ?? vm.media[0]?.mid ?? null,
    cores: vm.cpus,
    group_id: groupId(vm.gid),
    id: vm.num ?? null,
    management_address: null,
    memory: vm.memory_mib,
    name: vm.name,
    power_on: vm.state === 'RUNNING',
    keymap: null,
    deleted: false,
    hostname: `${vm.name}.${vm.gid}.${account}.${host}`,
    head: null,
    hardware_profile: HARDWARE_PROFILE,
    hardware_profile_locked: false,
    // Not in the create reply's example, but in Bytemark's full VM view: clients find disc ids here.
    discs: vm.discs.map((d) => renderDisc(vm, d)),
    ...(vm.ips ? { ips: vm.ips } : {}),
    vmid: vm.vmid,
  };
}

const KEYMAPS = ['en-us', 'en-gb', 'de', 'fr', 'es', 'it', 'nl', 'pt', 'sv', 'no', 'da', 'fi', 'ja'];

/** GET /definitions: Bytemark's array of {id, data}. */
export function renderDefinitions(defs: { distributions: { name: string; description: string }[]; storage_grades: string[] }, zone: string) {
  return [
    { id: 'distributions', data: defs.distributions.map((d) => d.name) },
    { id: 'distribution_descriptions', data: Object.fromEntries(defs.distributions.map((d) => [d.name, d.description])) },
    { id: 'storage_grades', data: defs.storage_grades },
    { id: 'storage_grade_descriptions', data: Object.fromEntries(defs.storage_grades.map((g) => [g, `hyved storage grade ${g}`])) },
    { id: 'hardware_profiles', data: [HARDWARE_PROFILE] },
    { id: 'zone_names', data: [zone] },
    { id: 'keymaps', data: KEYMAPS },
  ];
}
