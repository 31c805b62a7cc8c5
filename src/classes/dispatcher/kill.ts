import { defineAction } from '../context.js';
import { forbidden, notFound } from '../../core/errors.js';

export default defineAction('rpc/dispatcher/kill', {
  permission: 'task.kill',
  write: true,
  handler({ job_id }, { services, can }) {
    const ids = Array.isArray(job_id) ? job_id : [job_id];
    // A task on a group where the caller holds neither task grant does not exist for them, as a VM does not.
    const mine = ids.filter((id) => {
      const gid = services.tasks.get(id)?.gid;
      return gid !== undefined && (can('task.view', gid) || can('task.kill', gid));
    });
    const denied = mine.find((id) => !can('task.kill', services.tasks.get(id)!.gid));
    if (denied) throw forbidden(`permission task.kill needed on the group of task ${denied}`);
    if (mine.length === 0) throw notFound(`no such task: ${ids.join(', ')}`);
    const jobs = mine.filter((id) => services.tasks.kill(id));
    const finished = mine.filter((id) => !jobs.includes(id));
    return { killed: { jobs, ...(finished.length ? { finished } : {}) } };
  },
});
