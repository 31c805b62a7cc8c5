import { defineAction } from '../../core/action.js';
import { readSettings } from './guest.js';

export default defineAction({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'issetup',
  permission: 'vm.view',
  async handler(_args, { services }) {
    const s = await readSettings(services);
    return { issetup: { setup: s.pool !== null ? 'true' : 'false' } };
  },
});
