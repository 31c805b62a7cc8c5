import { NIC_TYPES } from '../../core/api.gen.js';
import { defineAction } from '../context.js';
import { HARDWARE_PROFILES } from './describe.js';

export default defineAction('sysadm/vm/definitions', {
  permission: 'vm.view',
  handler(_args, { services, can }) {
    const { config, host } = services;
    return {
      hardware_profiles: HARDWARE_PROFILES,
      storage_grades: Object.keys(config.storage_grades).map((name) => ({ name })),
      types: host.efi ? ['EFI', 'BIOS'] : ['BIOS'],
      media_modes: host.mediaModes,
      nic_types: NIC_TYPES.filter((t) => (t === 'NAT' ? host.nat : host.bridge)),
      groups: Object.entries(config.groups)
        .filter(([gid]) => can('vm.view', gid))
        .map(([gid, g]) => ({ gid, ...(g.description ? { description: g.description } : {}), ...(g.quota ? { quota: g.quota } : {}) })),
      host: { ...host },
    };
  },
});
