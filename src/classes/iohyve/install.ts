import { Status } from '../../core/action.js';
import { defineAction } from '../context.js';
import { conflict, notFound } from '../../core/errors.js';
import { taskKey } from '../../queue/task.js';
import { IsoStore } from '../../store/iso-store.js';
import { IOHYVE_GROUP, guest, queueTask } from './guest.js';

/** Boots the guest from an ISO of the store, attached as a CD and first in the boot order. */
export default defineAction('sysadm/iohyve/install', {
  permission: ['vm.state', 'vm.create'],
  scope: { group: IOHYVE_GROUP },
  write: true,
  async handler({ name, iso }, ctx) {
    const rt = guest(ctx, name);
    const { services } = ctx;
    IsoStore.check(iso, 'iso');
    if (!(await services.isos.exists(iso))) throw notFound(`No such ISO: ${iso}`);
    if (rt.state !== 'STOPPED') throw conflict('Please stop the guest first');
    const command = `iohyve install ${name} ${iso}`;
    const vmid = rt.def.vmid;
    const queued = queueTask(ctx, IOHYVE_GROUP, 'install', command, taskKey.vm(IOHYVE_GROUP, name), async (task) => {
      const others = rt.def.media.filter((m) => m.mid !== iso);
      task.progress({ description: `attaching ${iso} to ${name}` });
      await services.vms.update(vmid, { media: [{ mid: iso, mode: 'BLOCK', readonly: true }, ...others], boot: 'cd' });
      task.progress({ description: `starting ${name} from ${iso}` });
      await services.vms.setState(vmid, 'RUNNING', false);
      return { name, iso };
    }, iso);
    return new Status(202, { install: queued });
  },
});
