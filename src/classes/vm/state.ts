import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/state', {
  permission: 'vm.view',
  permissionFor: (args) => (args.state === undefined ? 'vm.view' : 'vm.state'),
  scope: 'vmid',
  write: true,
  async handler({ vmid, state, force = false }, { services: { vms } }) {
    return { vmid, state: state === undefined ? await vms.refresh(vmid) : await vms.setState(vmid, state, force) };
  },
});
