import os from 'node:os';
import { defineAction } from '../../core/action.js';

export default defineAction({
  namespace: 'rpc',
  name: 'identify',
  permission: null,
  anonymous: true,
  handler: (_args, { services }) => ({ type: 'server', hostname: os.hostname(), version: services.version }),
});
