import os from 'node:os';
import { defineAction } from '../context.js';

export default defineAction('rpc/identify', {
  permission: null,
  anonymous: true,
  handler: (_args, { services }) => ({ type: 'server', hostname: os.hostname(), version: services.version }),
});
