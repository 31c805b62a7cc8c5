import { defineAction } from '../context.js';
import { hostInterfaces, type HostInterface } from '../../hypervisor/host-nics.js';

function live(nic: HostInterface) {
  return { state: nic.state, ...(nic.mac ? { mac: nic.mac } : {}), ...(nic.mtu ? { mtu: nic.mtu } : {}), bridge: nic.bridge };
}

/**
 * Velocity's /v/nic/list: the administrator declares which host interfaces VMs may bridge to,
 * under stable NICIDs; everything else the host has is listed apart, as not offered.
 */
export default defineAction('sysadm/nic/list', {
  permission: 'nic.list',
  async handler(_args, { services }) {
    const host = await hostInterfaces();
    const byName = new Map(host.map((n) => [n.identifier, n]));
    const offered = new Set<string>();
    const host_nics = Object.entries(services.config.nics).map(([nicid, cfg]) => {
      const nic = byName.get(cfg.interface);
      offered.add(cfg.interface);
      return {
        nicid,
        description: cfg.description ?? `${cfg.interface} (${nic?.kind ?? 'not present'})`,
        identifier: cfg.interface,
        offered: true as const,
        ...(nic ? live(nic) : { state: 'missing' as const }),
      };
    });
    const other_nics = host
      .filter((n) => !offered.has(n.identifier))
      .map((n) => ({ description: `${n.identifier} (${n.kind})`, identifier: n.identifier, offered: false as const, ...live(n) }));
    return { host_nics, other_nics };
  },
});
