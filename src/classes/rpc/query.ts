import { defineAction } from '../../core/action.js';

export default defineAction({
  namespace: 'rpc',
  name: 'query',
  permission: null,
  handler: (_args, { services, user }) => services.router.access(user!),
});
