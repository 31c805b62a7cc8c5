import { defineAction } from '../context.js';
import { listedUsers } from './keys.js';

export default defineAction('rpc/settings/list_ssl_checksums', {
  permission: null,
  async handler(_args, ctx) {
    await ctx.services.users.refresh();
    return { md5_keys: listedUsers(ctx).flatMap((u) => ctx.services.users.keysOf(u).map((k) => k.checksum)) };
  },
});
