import type { VmAction, VmState } from '../../core/api.gen.js';
import { imageIdOf, profileOf } from './catalog.js';
import { STATE, dcActions } from './states.js';
import type { Address, InstanceView, RealmView } from './views.js';

/** What `sysadm/vm info` answers, as far as an instance shows it. */
export interface VmInfo {
  vmid: string;
  name: string;
  gid: string;
  state: VmState;
  cpus: number;
  memory_mib: number;
  hardware_profile: string;
  actions: VmAction[];
  launch_time: string | null;
  kernel?: string;
  distribution?: string;
  ssh_key_fingerprints?: string[];
  media: { mid: string }[];
  nics: { type: string }[];
  discs: { size_mib: number }[];
  /** The guest's own addresses, when its agent answers. */
  addresses?: { family: 'ipv4' | 'ipv6'; address: string }[];
}

// QEMU's user-mode network hands its first (and only) DHCP lease to the guest at this address.
const SLIRP_GUEST = '10.0.2.15';

/**
 * A hyved VM as a Deltacloud instance. owner_id is its group (hyved's VMs belong to groups, not
 * to the user who made them). A running VM's private addresses are the guest's own as its agent
 * reports them, else the one QEMU's NAT gives it; its public one is this host, which its NAT
 * traffic leaves from. Its keyname is the one of `keys` (the caller's) its seed authorized.
 */
export function instanceOf(vm: VmInfo, realm: RealmView, run: boolean, keys: { name: string; fingerprint: string }[] = []): InstanceView {
  const up = vm.state !== 'STOPPED';
  const reported: Address[] = (vm.addresses ?? []).map((a) => ({ type: a.family, address: a.address }));
  const priv: Address[] = !up ? [] : reported.length ? reported : vm.nics.some((n) => n.type === 'NAT') ? [{ type: 'ipv4', address: SLIRP_GUEST }] : [];
  const pub: Address[] = up && realm.name ? [{ type: 'hostname', address: realm.name }] : [];
  return {
    id: vm.vmid,
    name: vm.name,
    owner_id: vm.gid,
    image_id: imageIdOf(vm),
    realm_id: realm.id,
    state: STATE[vm.state],
    profile: profileOf(vm),
    actions: dcActions(vm.actions),
    run,
    launch_time: vm.launch_time,
    public_addresses: pub,
    private_addresses: priv,
    keyname: keys.find((k) => vm.ssh_key_fingerprints?.includes(k.fingerprint))?.name ?? null,
  };
}
