import { Status } from '../../core/action.js';
import { conflict } from '../../core/errors.js';
import { checkDiscFits } from '../../provision/reimage.js';
import { taskKey } from '../../queue/task.js';
import { defineAction } from '../context.js';
import { queueFor } from '../queued.js';
import { phased, reimageSteps } from './provisioning.js';

export default defineAction('sysadm/vm/reimage', {
  permission: 'vm.create',
  scope: 'vmid',
  write: true,
  async handler({ action: _action, vmid, ...req }, ctx) {
    const { services } = ctx;
    const rt = services.vms.get(vmid);
    if (rt.state !== 'STOPPED') throw conflict(`VM '${rt.def.name}' is ${rt.state}: stop it first`);
    const dist = await services.dists.get(req.distribution);
    checkDiscFits(rt.def, dist);
    const queued = queueFor(ctx, {
      queue: 'sysadm/vm',
      gid: rt.def.gid,
      action: 'reimage',
      // Never the request's secrets: the command is kept in task history and sent in events.
      command: `vm reimage ${rt.def.name} ${dist.name}`,
      key: taskKey.vm(rt.def.gid, rt.def.name),
      run: (task) =>
        services.vms.provision(vmid, 'reimaging', async (b) => {
          const p = phased(task, ['image', 'seed']);
          try {
            const { patch, ...seed } = await reimageSteps(task, b, dist, req, services, p.phase);
            await task.dropCleanup(b.seedPath);
            return { patch, result: { vmid, distribution: dist.name, ...seed } };
          } catch (err) {
            return p.fail(err);
          }
        }),
    });
    return new Status(202, { reimage: queued });
  },
});
