import { conflict } from '../../core/errors.js';
import { defineAction } from '../context.js';

export default defineAction('sysadm/vm/restart', {
  permission: 'vm.state',
  scope: 'vmid',
  write: true,
  async handler({ vmid, force = false }, { services: { vms } }) {
    const { state } = vms.get(vmid);
    if (state !== 'RUNNING') throw conflict(`VM is ${state}: only a running VM can be restarted`);
    await vms.setState(vmid, 'STOPPED', force);
    return { vmid, state: await vms.setState(vmid, 'RUNNING', false) };
  },
});
