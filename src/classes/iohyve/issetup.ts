import { defineAction } from '../context.js';

/**
 * iohyve was set up once `setup` had made its datasets on a pool. hyved's storage grades exist
 * from the first start (the config requires one), so iohyve is always ready; a client that reads
 * "false" (sysadm's GUI) would only ask for ZFS pools and network devices hyved does not have.
 */
export default defineAction('sysadm/iohyve/issetup', {
  permission: 'vm.view',
  handler() {
    return { issetup: { setup: 'true' } };
  },
});
