import { defineAction } from '../context.js';

export default defineAction('rpc/query', {
  permission: null,
  handler: (_args, { services, user }) => services.catalog.access(user!),
});
