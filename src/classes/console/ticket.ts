import { defineAction } from '../context.js';

export default defineAction('sysadm/console/ticket', {
  permission: 'vm.console.view',
  scope: 'vmid',
  write: { permission: 'vm.console.write', when: (args) => args.write === true || args.kind === 'vnc' },
  handler({ vmid, kind, write = false, shared = false, takeover = false }, { services: { vms, tickets }, user, connection }) {
    // Refused now rather than at the upgrade, where a browser sees only a failed WebSocket.
    if (kind === 'serial') vms.console(vmid);
    else vms.display(vmid);
    const grant = { vmid, kind, write: write || kind === 'vnc', user: user!.username, session: connection?.sessionKey ?? null, shared, takeover };
    const { ticket, expires_s } = tickets.issue(grant);
    return { ticket, url: `/console/${kind}?ticket=${ticket}`, expires_s };
  },
});
