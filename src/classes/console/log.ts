import { defineAction } from '../context.js';

export default defineAction('sysadm/console/log', {
  permission: 'vm.console.view',
  scope: 'vmid',
  async handler({ vmid, since, limit = 65536, encoding = 'utf8' }, { services: { vms } }) {
    const { offset, end, data } = await vms.consoleLog(vmid, since, limit);
    return { offset, next: offset + data.length, end, data: data.toString(encoding) };
  },
});
