import { defineAction } from '../context.js';
import { notFound } from '../../core/errors.js';

export default defineAction('rpc/dispatcher/kill', {
  permission: 'task.kill',
  write: true,
  handler({ job_id }, { services }) {
    const ids = Array.isArray(job_id) ? job_id : [job_id];
    const jobs: string[] = [];
    const finished: string[] = [];
    const unknown: string[] = [];
    for (const id of ids) {
      if (services.tasks.kill(id)) jobs.push(id);
      else if (services.tasks.get(id)) finished.push(id);
      else unknown.push(id);
    }
    if (unknown.length === ids.length) throw notFound(`no such task: ${unknown.join(', ')}`);
    return { killed: { jobs, ...(finished.length ? { finished } : {}) } };
  },
});
