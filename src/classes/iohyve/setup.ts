import { defineAction } from '../context.js';
import { notFound } from '../../core/errors.js';
import { gradeFor, readSettings, writeSettings } from './guest.js';

/**
 * iohyve's setup named a ZFS pool and a bridge NIC. Here the pool is a storage grade (by name or
 * its directory) and the NIC a configured NICID (or its interface); both must already exist.
 * Either may be left out: without a pool the one chosen before (else the first grade) stays and is
 * answered; without a NIC the one chosen before stays, and "" means none (iohyve's empty net=).
 */
export default defineAction('sysadm/iohyve/setup', {
  permission: 'admin',
  write: true,
  async handler({ pool, nic }, { services }) {
    const current = await readSettings(services);
    const grade = await gradeFor(services, pool);
    let nicid = current.nic;
    if (nic === '') nicid = null;
    else if (nic !== undefined) {
      const match = Object.entries(services.config.nics).find(([id, n]) => id === nic || n.interface === nic);
      if (!match) throw notFound(`No such NIC: ${nic} (offer it under nics in the config first)`);
      nicid = match[0];
    }
    // Recording the answered grade when none was asked for would pin today's first grade for good.
    await writeSettings(services, { pool: pool !== undefined ? grade : current.pool, nic: nicid });
    return { setup: { pool: grade, nic: nicid ?? '' } };
  },
});
