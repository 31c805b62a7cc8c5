import { defineAction } from '../context.js';
import { readSettings } from './guest.js';

export default defineAction('sysadm/iohyve/issetup', {
  permission: 'vm.view',
  async handler(_args, { services }) {
    const s = await readSettings(services);
    return { issetup: { setup: s.pool !== null ? 'true' : 'false' } };
  },
});
