import { defineAction } from '../../core/action.js';

export default defineAction({
  namespace: 'sysadm',
  name: 'iohyve',
  action: 'version',
  permission: 'vm.view',
  handler: (_args, { services }) => ({ version: { version: `hyved ${services.version}` } }),
});
