import { defineAction } from '../context.js';
import { notFound } from '../../core/errors.js';
import { gradeFor, readSettings, writeSettings } from './guest.js';

/**
 * iohyve's setup named a ZFS pool and a bridge NIC. Here the pool is a storage grade (by name or
 * its directory) and the NIC a configured NICID (or its interface); both must already exist.
 */
export default defineAction('sysadm/iohyve/setup', {
  permission: 'admin',
  write: true,
  async handler({ pool, nic }, { services }) {
    const current = await readSettings(services);
    const grade = pool !== undefined ? await gradeFor(services, pool) : current.pool;
    let nicid = current.nic;
    if (nic !== undefined) {
      const match = Object.entries(services.config.nics).find(([id, n]) => id === nic || n.interface === nic);
      if (!match) throw notFound(`No such NIC: ${nic} (offer it under nics in the config first)`);
      nicid = match[0];
    }
    await writeSettings(services, { pool: grade ?? null, nic: nicid });
    return { setup: { pool: grade ?? '', nic: nicid ?? '' } };
  },
});
