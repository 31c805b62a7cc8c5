import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/state', {
  permission: 'vm.view',
  scope: 'vmid',
  write: { permission: 'vm.state', when: (args) => args.state !== undefined },
  async handler({ vmid, state, force = false }, { services: { vms } }) {
    return { vmid, state: state === undefined ? await vms.refresh(vmid) : await vms.setState(vmid, state, force) };
  },
});
