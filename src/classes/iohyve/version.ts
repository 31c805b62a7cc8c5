import { defineAction } from '../context.js';

export default defineAction('sysadm/iohyve/version', {
  permission: 'vm.view',
  handler: (_args, { services }) => ({ version: { version: `hyved ${services.version}` } }),
});
